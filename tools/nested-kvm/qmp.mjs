// A minimal client of QEMU's machine protocol (QMP, docs/interop/qmp-spec.rst): one JSON object a
// line each way; the server greets, `qmp_capabilities` leaves negotiation mode, then each command
// gets one `return` or `error` reply, with asynchronous `event` messages in between (ignored here).
import { createConnection } from 'node:net';

/**
 * Connects to a QMP socket and negotiates. Resolves with `{ execute(command, args), close() }`;
 * `execute` resolves with the command's `return` value and rejects with its `error.desc`. Every
 * step fails after `timeoutMs`, so a wedged QEMU cannot hold the runner.
 */
export function connectQmp(path, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.setEncoding('utf8');
    let buffer = '';
    /** Waiters for the next greeting or reply, oldest first. */
    const waiting = [];
    const fail = (error) => {
      for (const { reject: rejectOne } of waiting.splice(0)) rejectOne(error);
      socket.destroy();
    };
    const next = () =>
      new Promise((resolveOne, rejectOne) => {
        const timer = setTimeout(() => {
          fail(new Error(`QMP: no reply in ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.push({
          resolve: (message) => {
            clearTimeout(timer);
            resolveOne(message);
          },
          reject: (error) => {
            clearTimeout(timer);
            rejectOne(error);
          },
        });
      });
    socket.on('data', (text) => {
      buffer += text;
      let at = buffer.indexOf('\n');
      while (at >= 0) {
        const line = buffer.slice(0, at).trim();
        buffer = buffer.slice(at + 1);
        at = buffer.indexOf('\n');
        if (line === '') continue;
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          fail(new Error(`QMP: not JSON: ${line.slice(0, 80)}`));
          return;
        }
        if ('event' in message) continue;
        waiting.shift()?.resolve(message);
      }
    });
    socket.on('error', (error) => {
      fail(error);
      reject(error);
    });
    socket.on('close', () => fail(new Error('QMP: connection closed')));

    const execute = async (command, args) => {
      const reply = next();
      socket.write(
        `${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`,
      );
      const message = await reply;
      if ('error' in message)
        throw new Error(`QMP ${command}: ${message.error.desc ?? JSON.stringify(message.error)}`);
      return message.return;
    };
    next()
      .then((greeting) => {
        if (!('QMP' in greeting)) throw new Error(`QMP: unexpected greeting ${JSON.stringify(greeting)}`);
        return execute('qmp_capabilities');
      })
      .then(
        () => resolve({ execute, close: () => socket.end() }),
        (error) => {
          socket.destroy();
          reject(error);
        },
      );
  });
}
