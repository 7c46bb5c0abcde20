// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectQmp } from './qmp.mjs';

/**
 * A QMP server on a Unix socket, as QEMU speaks it: a greeting, then one reply a command line, with
 * an event thrown in before each reply. `answer(request)` gives the reply object; `greeting` may be
 * replaced. Resolves with `{ path, received, close }`.
 */
async function fakeQmp(answer, { greeting = { QMP: { version: {}, capabilities: [] } } } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'qmp-'));
  const path = join(dir, 'qmp.sock');
  const received = [];
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    socket.write(`${JSON.stringify(greeting)}\r\n`);
    let buffer = '';
    socket.on('data', (text) => {
      buffer += text;
      let at = buffer.indexOf('\n');
      while (at >= 0) {
        const request = JSON.parse(buffer.slice(0, at));
        buffer = buffer.slice(at + 1);
        at = buffer.indexOf('\n');
        received.push(request);
        const reply = answer(request);
        if (reply === undefined) continue;
        socket.write(`{"event": "RTC_CHANGE", "data": {}}\r\n${JSON.stringify(reply)}\r\n`);
      }
    });
  });
  await new Promise((resolve) => server.listen(path, resolve));
  return {
    path,
    received,
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('connectQmp', () => {
  it('negotiates, runs commands with their arguments and skips events', async () => {
    const server = await fakeQmp(({ execute, arguments: args }) => {
      if (execute === 'human-monitor-command') return { return: `ran ${args['command-line']}\r\n` };
      return { return: {} };
    });
    try {
      const qmp = await connectQmp(server.path);
      assert.equal(
        await qmp.execute('human-monitor-command', { 'command-line': 'info lapic' }),
        'ran info lapic\r\n',
      );
      assert.deepEqual(await qmp.execute('inject-nmi'), {});
      qmp.close();
      assert.deepEqual(server.received, [
        { execute: 'qmp_capabilities' },
        { execute: 'human-monitor-command', arguments: { 'command-line': 'info lapic' } },
        { execute: 'inject-nmi' },
      ]);
    } finally {
      server.close();
    }
  });

  it("rejects with QEMU's error text, a wrong greeting, silence and a missing socket", async () => {
    const errors = await fakeQmp(({ execute }) =>
      execute === 'qmp_capabilities'
        ? { return: {} }
        : { error: { class: 'GenericError', desc: 'no NMI here' } },
    );
    try {
      const qmp = await connectQmp(errors.path);
      await assert.rejects(qmp.execute('inject-nmi'), /QMP inject-nmi: no NMI here/);
      qmp.close();
    } finally {
      errors.close();
    }
    const notQmp = await fakeQmp(() => ({ return: {} }), { greeting: { hello: 1 } });
    try {
      await assert.rejects(connectQmp(notQmp.path), /unexpected greeting/);
    } finally {
      notQmp.close();
    }
    const silent = await fakeQmp(() => undefined);
    try {
      await assert.rejects(connectQmp(silent.path, { timeoutMs: 200 }), /no reply in 200 ms/);
    } finally {
      silent.close();
    }
    await assert.rejects(connectQmp('/nonexistent/qmp.sock'), /ENOENT/);
  });
});
