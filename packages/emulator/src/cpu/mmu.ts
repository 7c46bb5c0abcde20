/**
 * Linear-to-physical translation and guest memory access: the paging modes of SDM Vol. 3A chapter 4
 * (32-bit with 4 MiB pages, PAE, 4-level), NX, WP, U/S, accessed and dirty bits written by the walk, global
 * pages; a software TLB in front of it; MMIO for guest-physical addresses no slot backs and for writes to
 * read-only slots.
 *
 * The TLB is direct-mapped by linear page number. Each entry has one tag per permission (read, write,
 * execute) and privilege (supervisor, user): a tag equal to the page number means the access may go straight
 * to the host bytes. Write tags are only set for pages already dirty in the page tables and in the dirty log,
 * and never for pages that hold cached code, so every write that must be noticed takes the slow path. Pages
 * that hold cached code have write tags of their own (`tlbCS`, `tlbCU`), read only by the slow path and by
 * string instructions, which then drop the instructions they overwrite, without a page walk.
 */

import { MemFlag } from '@kvm-ts/core';
import { holdDoubles } from '../hidden-classes.js';
import type { Slot, SlotTable } from '../memory/slots.js';
import { decode, Insn } from './decode.js';
import { raise, Vector } from './exceptions.js';
import type { CodeCache, CodePage } from './insn-cache.js';
import { CpuState, Cr0, Cr4, Efer, Stop } from './state.js';
import { TlbIndexList } from './tlb-index-list.js';
import { Area, type CpuArea, TLB_BITS, TLB_ENTRIES } from './wasm/layout.js';

/** TLB entries (a power of two). */
export const TLB_SIZE = TLB_ENTRIES;
const TLB_MASK = TLB_SIZE - 1;

/**
 * The TLB entry of linear page number `lpn`: its low TLB_BITS bits folded with the TLB_BITS above them, so pages
 * 2^TLB_BITS pages apart (a kernel's text and its data, say) do not evict each other as they did with the low
 * bits alone. Every fill, lookup and flush computes it this way: the JavaScript blocks' generated code and the
 * WebAssembly probe and dispatcher too (layout.ts's `tlbIndexCode`, on the page number as a 32-bit integer,
 * where an arithmetic and a logical shift leave the same bits under the mask).
 */
export function tlbIndex(lpn: number): number {
  return (lpn ^ (lpn >> TLB_BITS)) & TLB_MASK;
}

/**
 * An array of TLB_SIZE entries, all null until filled (typed as filled, as the tags guard every read). Grown by
 * `push`: `new Array(n)` of 16,384 or more cannot be allocated inline, and V8 then turns off inline allocation
 * for every `new Array` in the process (its ArrayConstructor protector).
 */
function emptyEntries<T>(): T[] {
  const out: T[] = [];
  for (let k = 0; k < TLB_SIZE; k++) out.push(null as T);
  return out;
}

/** Access kinds of a translation. */
export const Access = { READ: 0, WRITE: 1, EXEC: 2 } as const;

/** Why a run stopped for the VMM: what `Cpu.exitKind` holds when Stop.EXIT is set. */
export const CpuExit = {
  NONE: 0,
  IO: 1,
  MMIO: 2,
  HLT: 3,
  SHUTDOWN: 4,
  DEBUG: 5,
  IRQ_WINDOW: 6,
  INTR: 7,
  INTERNAL: 8,
} as const;

/** 2^47: canonical 48-bit addresses are [-2^47, 2^47) as sign-extended numbers. */
const CANONICAL_HALF = 140737488355328;

/** #PF error-code bits (SDM Vol. 3A 4.7). */
const PF = { P: 1, W: 2, U: 4, RSVD: 8, ID: 16 } as const;

const TWO32 = 4294967296;
/** Physical-address bits 39:32 a page-table entry may use (MAXPHYADDR 40); bits 51:40 are reserved. */
const PTE_HI_ADDR = 0xff;
const PTE_HI_RSVD = 0x000fff00;

/** One queued MMIO write (a write exit the VMM has not seen yet). */
interface MmioWrite {
  gpa: number;
  len: number;
  data: Uint8Array;
}

/** A TLB tag array with no entries: in the vCPU's WebAssembly area at `at` when it has one. */
function tagArray(area: CpuArea | null, at: number): Float64Array {
  return (area === null ? new Float64Array(TLB_SIZE) : area.float64s(at, TLB_SIZE)).fill(Number.NaN);
}

/** The MMU's part of the CPU: TLB, memory map, code cache, and the MMIO exit being built. */
export class MmuState extends CpuState {
  readonly tlbRS: Float64Array;
  readonly tlbWS: Float64Array;
  readonly tlbXS: Float64Array;
  readonly tlbRU: Float64Array;
  readonly tlbWU: Float64Array;
  readonly tlbXU: Float64Array;
  /**
   * Write tags of pages that hold cached code, supervisor and user, set where `tlbWS` and `tlbWU` would be but
   * for the code. Linux reuses memory that held code (its decompressor's, freed init code) for data: a boot
   * wrote some 90,000 times to such pages before their code was all overwritten, each write through a walk.
   */
  readonly tlbCS = new Float64Array(TLB_SIZE).fill(Number.NaN);
  /** `tlbCS` for user-mode writes. */
  readonly tlbCU = new Float64Array(TLB_SIZE).fill(Number.NaN);
  /** The tag arrays for the current privilege (switched by `syncPrivilege`). */
  tlbR: Float64Array;
  tlbW: Float64Array;
  tlbX: Float64Array;
  /** `tlbCS` or `tlbCU`, as the current privilege picks (the slow write path and REP string spans read it). */
  tlbC: Float64Array = this.tlbCS;
  readonly tlbView: DataView[] = emptyEntries();
  readonly tlbBytes: Uint8Array[] = emptyEntries();
  readonly tlbOff = new Int32Array(TLB_SIZE);
  /**
   * Where each entry's page starts in the VM's WebAssembly memory, for compiled WebAssembly blocks; -1 when the
   * page is not in it (memory outside the arena) or the CPU has no area (an array of its own, unused).
   */
  readonly tlbAbs: Int32Array;
  /** Per entry, the block directory of its code page in the WebAssembly memory (0: none; wasm/directories.ts). */
  readonly tlbDir: Int32Array;
  readonly tlbPhys = new Float64Array(TLB_SIZE).fill(-1);
  readonly tlbGlobal = new Uint8Array(TLB_SIZE);
  readonly tlbCode: CodePage[] = emptyEntries();

  /** High half of the last 64-bit read. */
  hi = 0;

  exitKind: number = CpuExit.NONE;
  mmioGpa = 0;
  mmioLen = 0;
  mmioIsWrite = false;
  readonly mmioData = new Uint8Array(8);
  /** An MMIO read the VMM has completed: the re-executed instruction takes its data. */
  mmioReadReady = false;
  readonly mmioWrites: MmioWrite[] = [];

  /** Instructions that straddle a page are decoded here every time instead of being cached. */
  readonly scratchInsn = new Insn();
  private fetchLin = 0;
  private fetchPage = -1;
  private fetchSlot: Slot | undefined;
  private fetchFaulted = false;
  readonly fetchByte = (k: number): number => this.codeByte(k);

  constructor(
    readonly mem: SlotTable,
    readonly code: CodeCache,
    area: CpuArea | null = null,
  ) {
    super(area);
    this.tlbRS = tagArray(area, Area.TLB_RS);
    this.tlbWS = tagArray(area, Area.TLB_WS);
    this.tlbXS = tagArray(area, Area.TLB_XS);
    this.tlbRU = tagArray(area, Area.TLB_RU);
    this.tlbWU = tagArray(area, Area.TLB_WU);
    this.tlbXU = tagArray(area, Area.TLB_XU);
    this.tlbR = this.tlbRS;
    this.tlbW = this.tlbWS;
    this.tlbX = this.tlbXS;
    this.tlbAbs = (area === null ? new Int32Array(TLB_ENTRIES) : area.int32s(Area.TLB_ABS, TLB_ENTRIES)).fill(
      -1,
    );
    this.tlbDir = area === null ? new Int32Array(TLB_ENTRIES) : area.int32s(Area.TLB_DIR, TLB_ENTRIES);
    // 64-bit guest-physical and linear addresses (state.ts's WIDE_FIELDS says why).
    holdDoubles(this as unknown as { mmioGpa: number; fetchLin: number }, ['mmioGpa', 'fetchLin']);
  }

  /** Points the TLB tag arrays at the current privilege level's set. */
  syncPrivilege(): void {
    const user = this.cpl === 3;
    this.tlbR = user ? this.tlbRU : this.tlbRS;
    this.tlbW = user ? this.tlbWU : this.tlbWS;
    this.tlbX = user ? this.tlbXU : this.tlbXS;
    this.tlbC = user ? this.tlbCU : this.tlbCS;
  }

  /**
   * TLB indices `translate` filled since a flush last dropped them, listed apart by whether the fill was of a
   * global page, so a flush visits those alone and a CR3 write, which keeps global pages, only the others: Linux
   * writes CR3 about 18,000 times while it boots, with some 2,600 global kernel pages in the TLB and a few dozen
   * others. An index refilled the other way since is in both lists.
   */
  private readonly localFills = new TlbIndexList(TLB_SIZE);
  private readonly globalFills = new TlbIndexList(TLB_SIZE);

  /** Drops every translation (CR0/CR4 writes, memory-map changes); global pages too when `global`. */
  flushTlb(global = true): void {
    const local = this.localFills;
    for (let k = 0; k < local.count; k++) {
      const ix = local.items[k];
      // Refilled as a global page since it was listed here: the global list holds it too, and it stays.
      if (global || !this.tlbGlobal[ix]) this.dropEntry(ix);
    }
    local.clear();
    if (!global) return;
    const all = this.globalFills;
    for (let k = 0; k < all.count; k++) this.dropEntry(all.items[k]);
    all.clear();
  }

  /**
   * INVLPG: drops the translation of one linear page. Returns true when it was executable (the run loop may
   * hold its instructions and must look again).
   */
  flushPage(lin: number): boolean {
    const lpn = Math.floor(lin / 4096);
    const ix = tlbIndex(lpn);
    const exec = this.tlbXS[ix] === lpn || this.tlbXU[ix] === lpn;
    if (exec || this.tlbRS[ix] === lpn || this.tlbRU[ix] === lpn) {
      // The tags go; the entry's host mapping of its physical page stays, so the next fill of the same page
      // (the usual case: a page-table edit, or none, then an access) has nothing to redo.
      this.dropTags(ix);
    }
    return exec;
  }

  /** Drops the execute translations of the page at `gpa` (it is no longer a code page: CodeCache.drop). */
  dropCode(gpa: number): void {
    this.dropTagsOf(gpa, true);
  }

  /** Stops writes to the page at `gpa` going through the fast path (it now holds cached code, or was logged). */
  dropWrites(gpa: number): void {
    this.dropTagsOf(gpa, false);
  }

  /**
   * Clears the write tags, or with `execute` the execute tags and code page, of the entries that map
   * guest-physical page `gpa`: only filled entries (`localFills`, `globalFills`) can map one.
   */
  private dropTagsOf(gpa: number, execute: boolean): void {
    this.dropTagsIn(this.localFills, gpa, execute);
    this.dropTagsIn(this.globalFills, gpa, execute);
  }

  private dropTagsIn(list: TlbIndexList, gpa: number, execute: boolean): void {
    for (let k = 0; k < list.count; k++) {
      const ix = list.items[k];
      if (this.tlbPhys[ix] !== gpa) continue;
      if (execute) {
        this.tlbXS[ix] = Number.NaN;
        this.tlbXU[ix] = Number.NaN;
        // No code left: the next fill gives the page plain write tags.
        this.tlbCS[ix] = Number.NaN;
        this.tlbCU[ix] = Number.NaN;
        this.tlbCode[ix] = null as unknown as CodePage;
      } else {
        this.tlbWS[ix] = Number.NaN;
        this.tlbWU[ix] = Number.NaN;
      }
    }
  }

  /** Drops every execute translation (reset, SIPI: the code about to run is fetched afresh). */
  flushCode(): void {
    this.tlbXS.fill(Number.NaN);
    this.tlbXU.fill(Number.NaN);
    this.clearDirectories();
  }

  /**
   * Starts a run's view of code. The VMM may have written guest memory since the last run (through
   * `GuestMemory.bytes`, behind the CPU's back), so each code page is compared with its snapshot again before
   * its instructions run: at first use in the run (`verifiedCode`), not here. The execute translations stay,
   * since the page tables did not change; the block directories go, so the WebAssembly dispatcher cannot chain
   * into a page not compared yet.
   */
  recheckCode(): void {
    this.code.generation++;
    this.clearDirectories();
  }

  /**
   * TLB indices whose `tlbDir` entry was set since the entries were last cleared: a run starts by clearing
   * them (`recheckCode`), and Linux's boot makes some 30,000 runs that each touch a few code pages, where
   * clearing all 4096 entries each time cost more than the runs' comparisons.
   */
  private readonly directoryFills = new TlbIndexList(TLB_SIZE);

  /** Gives TLB entry `ix` the block directory of its code page, for the dispatcher. */
  private setDirectory(ix: number, directory: number): void {
    this.tlbDir[ix] = directory;
    if (directory !== 0) this.directoryFills.add(ix);
  }

  /** Takes every block directory from the TLB (the dispatcher then chains into no page until it is set again). */
  private clearDirectories(): void {
    const set = this.directoryFills;
    for (let k = 0; k < set.count; k++) this.tlbDir[set.items[k]] = 0;
    set.clear();
  }

  /**
   * The code page of TLB entry `ix` (an execute tag hit) once compared with memory in this run
   * (CodeCache.page), its block directory given back to the dispatcher.
   */
  verifiedCode(ix: number): CodePage {
    const old = this.tlbCode[ix];
    const page = this.code.page(old.gpa, this.tlbBytes[ix], this.tlbOff[ix], this.tlbAbs[ix]);
    this.tlbCode[ix] = page;
    this.setDirectory(ix, page.directory);
    return page;
  }

  private dropEntry(ix: number): void {
    this.dropTags(ix);
    this.tlbPhys[ix] = -1;
  }

  /** Clears every tag of entry `ix`; its host mapping (`tlbPhys` and the views) stays. */
  private dropTags(ix: number): void {
    this.tlbRS[ix] = Number.NaN;
    this.tlbWS[ix] = Number.NaN;
    this.tlbXS[ix] = Number.NaN;
    this.tlbRU[ix] = Number.NaN;
    this.tlbWU[ix] = Number.NaN;
    this.tlbXU[ix] = Number.NaN;
    this.tlbCS[ix] = Number.NaN;
    this.tlbCU[ix] = Number.NaN;
    this.tlbGlobal[ix] = 0;
  }

  // ---- Page walk (SDM Vol. 3A 4.3-4.5) ------------------------------------------------------------

  /** Result of the last successful walk: permissions of the whole path. */
  walkWritable = false;
  walkUser = false;
  walkNx = false;
  walkGlobal = false;
  walkDirty = false;

  /**
   * Translates `lin` for `access` at privilege `user`; returns the guest-physical page address, or -1 after
   * recording #PF. With `probe` (KVM_TRANSLATE) it records nothing and sets no A/D bits.
   */
  walk(lin: number, access: number, user: boolean, probe = false): number {
    if (!(this.cr0 & Cr0.PG)) {
      this.walkWritable = true;
      this.walkUser = true;
      this.walkNx = false;
      this.walkGlobal = false;
      this.walkDirty = true;
      return lin - (lin & 4095);
    }
    const write = access === Access.WRITE;
    const exec = access === Access.EXEC;
    const errBase = (write ? PF.W : 0) | (user ? PF.U : 0) | (exec && this.efer & Efer.NXE ? PF.ID : 0);
    let writable = true;
    let usr = true;
    let nx = false;
    let global = false;
    let page: number;
    let pageOffsetMask: number;
    let leafAddr: number;
    let leafLo: number;
    if (this.cr4 & Cr4.PAE) {
      const long = (this.efer & Efer.LMA) !== 0;
      const hi = Math.floor(lin / TWO32);
      const lo = lin - hi * TWO32;
      let table: number;
      let levels: number;
      if (long) {
        table = this.cr3 - (this.cr3 % 4096);
        levels = 4;
      } else {
        // PDPTE from CR3 bits 31:5 (SDM Vol. 3A 4.4.1); loaded at each walk rather than cached at CR3 load.
        const pdpteAddr = (this.cr3 & 0xffffffe0) + ((lo >>> 30) << 3);
        const pdLo = this.phys32(pdpteAddr);
        const pdHi = this.phys32(pdpteAddr + 4);
        if (!(pdLo & 1)) return this.pfault(lin, errBase, probe);
        if (pdLo & 0x1e6 || pdHi & PTE_HI_RSVD) return this.pfault(lin, errBase | PF.P | PF.RSVD, probe);
        table = (pdHi & PTE_HI_ADDR) * TWO32 + ((pdLo & 0xfffff000) >>> 0);
        levels = 2;
      }
      for (let level = levels; ; level--) {
        let index: number;
        if (level === 4) index = ((hi & 0xffff) >>> 7) & 0x1ff;
        else if (level === 3) index = ((hi & 0x7f) << 2) | (lo >>> 30);
        else if (level === 2) index = (lo >>> 21) & 0x1ff;
        else index = (lo >>> 12) & 0x1ff;
        const addr = table + index * 8;
        let eLo = this.phys32(addr);
        const eHi = this.phys32(addr + 4);
        if (!(eLo & 1)) return this.pfault(lin, errBase, probe);
        const nxBit = eHi < 0;
        if (eHi & PTE_HI_RSVD || (nxBit && !(this.efer & Efer.NXE))) {
          return this.pfault(lin, errBase | PF.P | PF.RSVD, probe);
        }
        writable = writable && (eLo & 2) !== 0;
        usr = usr && (eLo & 4) !== 0;
        nx = nx || nxBit;
        const large = (level === 3 && long) || level === 2 ? (eLo & 0x80) !== 0 : false;
        if (level === 1 || large) {
          if (large && ((level === 3 && eLo & 0x3fffe000) || (level === 2 && eLo & 0x1fe000))) {
            return this.pfault(lin, errBase | PF.P | PF.RSVD, probe);
          }
          pageOffsetMask = level === 3 ? 0x3fffffff : level === 2 ? 0x1fffff : 0xfff;
          const baseLo = (eLo & ~pageOffsetMask & 0xfffff000) >>> 0;
          page = (eHi & PTE_HI_ADDR) * TWO32 + baseLo + ((lo & pageOffsetMask) - (lo & 0xfff));
          global = (eLo & 0x100) !== 0 && (this.cr4 & Cr4.PGE) !== 0;
          leafAddr = addr;
          leafLo = eLo;
          break;
        }
        if (!(eLo & 0x20) && !probe) {
          eLo |= 0x20;
          this.physWrite32(addr, eLo);
        }
        table = (eHi & PTE_HI_ADDR) * TWO32 + ((eLo & 0xfffff000) >>> 0);
      }
    } else {
      const l = lin >>> 0;
      const pdeAddr = (this.cr3 & 0xfffff000) + ((l >>> 22) << 2);
      let pde = this.phys32(pdeAddr);
      if (!(pde & 1)) return this.pfault(lin, errBase, probe);
      writable = (pde & 2) !== 0;
      usr = (pde & 4) !== 0;
      if (pde & 0x80 && this.cr4 & Cr4.PSE) {
        // 4 MiB page; PSE-36 bits 20:13 give physical bits 39:32.
        page = ((pde >>> 13) & 0xff) * TWO32 + ((pde & 0xffc00000) >>> 0) + ((l & 0x3ff000) >>> 0);
        global = (pde & 0x100) !== 0 && (this.cr4 & Cr4.PGE) !== 0;
        leafAddr = pdeAddr;
        leafLo = pde;
      } else {
        if (!(pde & 0x20) && !probe) {
          pde |= 0x20;
          this.physWrite32(pdeAddr, pde);
        }
        const pteAddr = (pde & 0xfffff000) + (((l >>> 12) & 0x3ff) << 2);
        const pte = this.phys32(pteAddr);
        if (!(pte & 1)) return this.pfault(lin, errBase, probe);
        writable = writable && (pte & 2) !== 0;
        usr = usr && (pte & 4) !== 0;
        page = (pte & 0xfffff000) >>> 0;
        global = (pte & 0x100) !== 0 && (this.cr4 & Cr4.PGE) !== 0;
        leafAddr = pteAddr;
        leafLo = pte;
      }
    }
    // Permission checks (SDM Vol. 3A 4.6).
    if (!probe) {
      if (user && !usr) return this.pfault(lin, errBase | PF.P, probe);
      if (write && !writable && (user || this.cr0 & Cr0.WP)) return this.pfault(lin, errBase | PF.P, probe);
      if (exec && nx && this.efer & Efer.NXE) return this.pfault(lin, errBase | PF.P, probe);
      const want = write ? 0x60 : 0x20;
      if ((leafLo & want) !== want) this.physWrite32(leafAddr, leafLo | want);
    }
    this.walkWritable = writable;
    this.walkUser = usr;
    this.walkNx = nx && (this.efer & Efer.NXE) !== 0;
    this.walkGlobal = global;
    this.walkDirty = write || (leafLo & 0x40) !== 0;
    return page;
  }

  private pfault(lin: number, error: number, probe: boolean): number {
    if (!probe) {
      this.cr2 = lin;
      raise(this, Vector.PF, error);
    }
    return -1;
  }

  /** Reads a 32-bit little-endian value at a guest-physical address (page tables, descriptors); 0 if unbacked. */
  phys32(gpa: number): number {
    const s = this.mem.find(gpa);
    if (!s) return 0;
    const off = s.offset + gpa - s.gpa;
    if (gpa + 4 <= s.gpa + s.size) return s.memory.view.getInt32(off, true);
    return 0;
  }

  /** Writes a 32-bit value at a guest-physical address (A/D bits); ignored when unbacked or read-only. */
  physWrite32(gpa: number, value: number): void {
    const s = this.mem.find(gpa);
    if (!s || s.flags & MemFlag.READONLY || gpa + 4 > s.gpa + s.size) return;
    this.noteWrite(s, gpa, 4);
    s.memory.view.setInt32(s.offset + gpa - s.gpa, value, true);
  }

  private noteWrite(s: Slot, gpa: number, len: number): void {
    if (s.dirty.length) this.mem.markDirty(s, gpa);
    const pageGpa = gpa - (gpa % 4096);
    const page = this.code.pages.get(pageGpa);
    if (page !== undefined) {
      // A compiled block over these bytes may be running: end it so the next fetch sees the new code.
      if (page.invalidate(gpa - pageGpa, len)) this.stop |= Stop.RESYNC;
      if (page.isEmpty()) {
        // No code left on it: an ordinary page again (CodeCache.drop); the loop lets go of it at once.
        this.code.drop(pageGpa);
        this.stop |= Stop.RESYNC;
        return;
      }
      const bytes = s.memory.bytes;
      const snapshot = page.snapshot;
      const from = s.offset + gpa - s.gpa;
      const at = gpa - pageGpa;
      for (let k = 0; k < len; k++) snapshot[at + k] = bytes[from + k];
    }
  }

  /**
   * Notes a write of `len` bytes at page offset `offset` of TLB entry `ix`'s page, made straight to its host
   * bytes by a string instruction over a page of cached code (`tlbC`): drops the code the bytes overwrote.
   */
  noteCodeWrite(ix: number, offset: number, len: number): void {
    const gpa = this.tlbPhys[ix] + offset;
    const s = this.mem.find(gpa);
    if (s !== undefined) this.noteWrite(s, gpa, len);
  }

  /**
   * Translates and fills the TLB for one access that does not cross a page. Returns the guest-physical
   * address or -1 (fault recorded). `fillSlot` is the backing slot, undefined for MMIO.
   */
  fillSlot: Slot | undefined;
  translate(lin: number, access: number): number {
    const user = this.cpl === 3;
    const page = this.walk(lin, access, user);
    if (page < 0) return -1;
    const slot = this.mem.find(page);
    this.fillSlot = slot;
    const gpa = page + (lin & 4095);
    if (!slot) return gpa;
    const lpn = Math.floor(lin / 4096);
    const ix = tlbIndex(lpn);
    if (this.tlbPhys[ix] !== page) {
      this.dropEntry(ix);
      this.tlbPhys[ix] = page;
      this.tlbView[ix] = slot.memory.view;
      this.tlbBytes[ix] = slot.memory.bytes;
      this.tlbOff[ix] = slot.offset + page - slot.gpa;
      this.tlbAbs[ix] =
        this.area !== null && slot.memory.arena === this.area.arena
          ? slot.memory.bytes.byteOffset + this.tlbOff[ix]
          : -1;
      this.tlbCode[ix] = null as unknown as CodePage;
    }
    this.tlbGlobal[ix] = this.walkGlobal ? 1 : 0;
    (this.walkGlobal ? this.globalFills : this.localFills).add(ix);
    // Supervisor access to user pages is allowed (no SMAP); a user tag only when the path allows user.
    const wpOk = this.walkWritable || !(this.cr0 & Cr0.WP);
    this.tlbRS[ix] = lpn;
    if (this.walkUser) this.tlbRU[ix] = lpn;
    if (this.walkDirty && !(slot.flags & MemFlag.READONLY)) {
      if (this.code.has(page)) {
        // Each write through these goes to `noteWrite`, which also marks the dirty log.
        if (wpOk) this.tlbCS[ix] = lpn;
        if (this.walkWritable && this.walkUser) this.tlbCU[ix] = lpn;
      } else if (slot.dirty.length === 0 || access === Access.WRITE) {
        if (access === Access.WRITE) this.mem.markDirty(slot, page);
        if (wpOk) this.tlbWS[ix] = lpn;
        if (this.walkWritable && this.walkUser) this.tlbWU[ix] = lpn;
      }
    }
    return gpa;
  }

  // ---- Data access ---------------------------------------------------------------------------------

  /** Reads `size` (1, 2, 4) bytes; for 8 returns the low half and leaves the high half in `hi`. */
  read(lin: number, size: number): number {
    const lpn = Math.floor(lin / 4096);
    const ix = tlbIndex(lpn);
    const o = lin & 4095;
    if (this.tlbR[ix] === lpn && o <= 4096 - size) {
      const v = this.tlbView[ix];
      const p = this.tlbOff[ix] + o;
      switch (size) {
        case 1:
          return this.tlbBytes[ix][p];
        case 2:
          return v.getUint16(p, true);
        case 4:
          return v.getInt32(p, true);
        default:
          this.hi = v.getInt32(p + 4, true);
          return v.getInt32(p, true);
      }
    }
    return this.readSlow(lin, size);
  }

  /** Writes `size` bytes (`hi` is the high half of an 8-byte write). */
  write(lin: number, size: number, value: number, hi: number): void {
    const lpn = Math.floor(lin / 4096);
    const ix = tlbIndex(lpn);
    const o = lin & 4095;
    if (this.tlbW[ix] === lpn && o <= 4096 - size) {
      const v = this.tlbView[ix];
      const p = this.tlbOff[ix] + o;
      switch (size) {
        case 1:
          this.tlbBytes[ix][p] = value;
          return;
        case 2:
          v.setUint16(p, value, true);
          return;
        case 4:
          v.setInt32(p, value, true);
          return;
        default:
          v.setInt32(p, value, true);
          v.setInt32(p + 4, hi, true);
          return;
      }
    }
    this.writeSlow(lin, size, value, hi);
  }

  /**
   * Checks that a write of `size` bytes at `lin` would not fault, without writing (read-modify-write
   * instructions and multi-part stores check before changing anything).
   */
  probeWrite(lin: number, size: number): boolean {
    const lpn = Math.floor(lin / 4096);
    const o = lin & 4095;
    const first = this.tlbW[tlbIndex(lpn)] === lpn;
    if (o <= 4096 - size) return first || this.translate(lin, Access.WRITE) >= 0;
    if (!first && this.translate(lin, Access.WRITE) < 0) return false;
    return this.tlbW[tlbIndex(lpn + 1)] === lpn + 1 || this.translate(lin + (4096 - o), Access.WRITE) >= 0;
  }

  private readSlow(lin: number, size: number): number {
    const o = lin & 4095;
    if (o > 4096 - size) {
      // Crosses a page: assembled bytewise, each byte through the TLB (the first fault wins). Linux's
      // decompressor reads across pages some 20,000 times a boot; a walk per byte made each cost microseconds.
      let lo = 0;
      let hi = 0;
      for (let k = 0; k < size; k++) {
        const b = this.read(lin + k, 1);
        if (this.stop & Stop.ABORT) return 0;
        if (k < 4) lo |= b << (8 * k);
        else hi |= b << (8 * (k - 4));
      }
      this.hi = hi;
      return size === 2 ? lo & 0xffff : lo;
    }
    const gpa = this.translate(lin, Access.READ);
    if (gpa < 0) return 0;
    const s = this.fillSlot;
    if (s !== undefined) return this.read(lin, size);
    return this.mmioRead(gpa, size);
  }

  private writeSlow(lin: number, size: number, value: number, hi: number): void {
    const o = lin & 4095;
    if (o > 4096 - size) {
      // Check both pages first so a fault on the second leaves memory untouched.
      // Then each byte through the TLB, as reads are.
      if (!this.probeWrite(lin, size)) return;
      for (let k = 0; k < size; k++) {
        const b = k < 4 ? value >>> (8 * k) : hi >>> (8 * (k - 4));
        this.write(lin + k, 1, b & 0xff, 0);
      }
      return;
    }
    let gpa: number;
    let s: Slot | undefined;
    const lpn = Math.floor(lin / 4096);
    const ix = tlbIndex(lpn);
    if (this.tlbC[ix] === lpn) {
      gpa = this.tlbPhys[ix] + o;
      s = this.mem.find(gpa);
    } else {
      gpa = this.translate(lin, Access.WRITE);
      if (gpa < 0) return;
      s = this.fillSlot;
    }
    if (s === undefined || s.flags & MemFlag.READONLY) {
      this.mmioWrite(gpa, size, value, hi);
      return;
    }
    const off = s.offset + gpa - s.gpa;
    const v = s.memory.view;
    switch (size) {
      case 1:
        s.memory.bytes[off] = value;
        break;
      case 2:
        v.setUint16(off, value, true);
        break;
      case 4:
        v.setInt32(off, value, true);
        break;
      default:
        v.setInt32(off, value, true);
        v.setInt32(off + 4, hi, true);
    }
    this.noteWrite(s, gpa, size);
  }

  private mmioRead(gpa: number, size: number): number {
    if (this.mmioReadReady && !this.mmioIsWrite && gpa === this.mmioGpa && size === this.mmioLen) {
      this.mmioReadReady = false;
      const d = this.mmioData;
      const lo = (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0;
      this.hi = d[4] | (d[5] << 8) | (d[6] << 16) | (d[7] << 24);
      return size === 1 ? lo & 0xff : size === 2 ? lo & 0xffff : lo | 0;
    }
    this.mmioGpa = gpa;
    this.mmioLen = size;
    this.mmioIsWrite = false;
    this.mmioData.fill(0);
    this.exitKind = CpuExit.MMIO;
    this.stop |= Stop.EXIT | Stop.ABORT;
    return 0;
  }

  private mmioWrite(gpa: number, size: number, value: number, hi: number): void {
    const data = new Uint8Array(8);
    for (let k = 0; k < size; k++) data[k] = (k < 4 ? value >>> (8 * k) : hi >>> (8 * (k - 4))) & 0xff;
    this.mmioWrites.push({ gpa, len: size, data });
    this.stop |= Stop.EXIT;
  }

  /** Moves the next queued MMIO write into the exit fields; false when none is queued. */
  takeMmioWrite(): boolean {
    const w = this.mmioWrites.shift();
    if (!w) return false;
    this.mmioGpa = w.gpa;
    this.mmioLen = w.len;
    this.mmioIsWrite = true;
    this.mmioData.set(w.data);
    this.exitKind = CpuExit.MMIO;
    return true;
  }

  // ---- Instruction fetch ---------------------------------------------------------------------------

  /**
   * The decoded instruction at linear address `lin` (CS base + RIP), or null after a fault or an exit
   * (code in MMIO). Cached instructions come straight from the TLB's code-page reference.
   */
  fetch(lin: number): Insn | null {
    const lpn = Math.floor(lin / 4096);
    const ix = tlbIndex(lpn);
    if (this.tlbX[ix] === lpn) {
      let page = this.tlbCode[ix];
      if (page.verified !== this.code.generation) page = this.verifiedCode(ix);
      const insn = page.insns[lin & 4095];
      if (insn !== undefined && insn.mode === this.codeMode) return insn;
    }
    return this.fetchSlow(lin);
  }

  private fetchSlow(lin: number): Insn | null {
    if (this.long64 && !isCanonical(lin)) return this.nonCanonicalFetch();
    const lpn = Math.floor(lin / 4096);
    const ix = tlbIndex(lpn);
    let page: CodePage;
    let s: Slot | undefined;
    if (this.tlbX[ix] === lpn) {
      // An instruction not decoded yet on a page the TLB can execute (`fetch` compared it with memory): no walk.
      page = this.tlbCode[ix];
      if (page.verified !== this.code.generation) page = this.verifiedCode(ix);
      s = this.mem.find(this.tlbPhys[ix]);
    } else {
      const gpa = this.translate(lin, Access.EXEC);
      if (gpa < 0) return null;
      s = this.fillSlot;
      if (s === undefined) {
        // KVM cannot fetch instructions from MMIO either: it reports an emulation failure.
        this.exitKind = CpuExit.INTERNAL;
        this.stop |= Stop.EXIT | Stop.ABORT;
        return null;
      }
      const pageGpa = gpa - (gpa % 4096);
      page = this.code.page(pageGpa, s.memory.bytes, s.offset + pageGpa - s.gpa, this.tlbAbs[ix]);
      this.tlbCode[ix] = page;
      this.setDirectory(ix, page.directory);
      if (this.cpl === 3) {
        if (this.walkUser && !this.walkNx) this.tlbXU[ix] = lpn;
      } else if (!this.walkNx) this.tlbXS[ix] = lpn;
    }
    const o = lin & 4095;
    const cached = page.insns[o];
    if (cached !== undefined && cached.mode === this.codeMode) return cached;
    this.fetchLin = lin;
    this.fetchPage = lpn;
    this.fetchSlot = s;
    this.fetchFaulted = false;
    const insn = new Insn();
    if (!decode(this.codeMode, this.fetchByte, insn)) return null;
    if (o + insn.len <= 4096) {
      if (cached === undefined) page.live++;
      page.insns[o] = insn;
      return insn;
    }
    const scratch = this.scratchInsn;
    this.fetchFaulted = false;
    if (!decode(this.codeMode, this.fetchByte, scratch)) return null;
    return scratch;
  }

  /**
   * A fetch at a non-canonical address in 64-bit mode (code that ran off the end of the lower half) is #GP(0),
   * not a page walk (SDM Vol. 1 3.3.7.1, Vol. 3A 6.15 interrupt 13): the walk only sees bits 47:0 and could map
   * it. Branches to such an address fault earlier, on the branch (control.ts's `branch`).
   */
  private nonCanonicalFetch(): null {
    raise(this, Vector.GP, 0);
    return null;
  }

  private codeByte(k: number): number {
    if (this.fetchFaulted) return -1;
    const lin = this.fetchLin + k;
    const lpn = Math.floor(lin / 4096);
    if (lpn !== this.fetchPage) {
      if (this.long64 && !isCanonical(lin)) {
        // The instruction starts below the boundary and runs past it: #GP(0) at its start.
        this.nonCanonicalFetch();
        this.fetchFaulted = true;
        return -1;
      }
      const gpa = this.translate(lin, Access.EXEC);
      if (gpa < 0 || this.fillSlot === undefined) {
        if (gpa >= 0) {
          this.exitKind = CpuExit.INTERNAL;
          this.stop |= Stop.EXIT | Stop.ABORT;
        }
        this.fetchFaulted = true;
        return -1;
      }
      this.fetchPage = lpn;
      this.fetchSlot = this.fillSlot;
      return this.fillSlot.memory.bytes[this.fillSlot.offset + gpa - this.fillSlot.gpa];
    }
    const s = this.fetchSlot!;
    const ix = tlbIndex(lpn);
    if (this.tlbPhys[ix] >= 0 && this.tlbBytes[ix] === s.memory.bytes) {
      return this.tlbBytes[ix][this.tlbOff[ix] + (lin & 4095)];
    }
    return 0;
  }
}

/** Whether linear address `lin` (a number, 64-bit mode) is canonical for 48-bit linear addresses. */
function isCanonical(lin: number): boolean {
  return lin >= -CANONICAL_HALF && lin < CANONICAL_HALF;
}
