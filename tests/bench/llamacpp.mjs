// llama.cpp natively (one thread, or n_threads for --threads), for the bench's per-type rows: llama-cpp-python 0.3.36 in
// build/llama-venv (scripts/quants.sh builds it, -march=native). One measurement is one call of
// ../shared/peers/llamacpp/bench.py --runs 1 --threads N (a fresh process and Llama(), an untimed
// 16-token warm-up, a timed 101-token prefill and 128 greedy tokens with end-of-generation masked:
// the peers' own timing windows, not a copy of them). bench.py's own idle wait and discard-and-redo
// are off: the bench interleaves the implementations instead, so noise hits every one of them.
//
// AMX: where /proc/cpuinfo advertises AMX, ggml (built natively) multiplies Q4_0, Q4_1, Q8_0 and the
// K-quants with AMX tiles. In some VMs the kernel grants the tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM succeeds) and the tile instructions still fault (SIGILL at `tilezero`). The
// first call here is a short probe; if llama.cpp dies of SIGILL, every later call runs with a tiny
// LD_PRELOAD library that makes that one arch_prctl request fail, which ggml answers by leaving AMX
// out ("AMX is not ready to be used!") and using its AVX-512 / repacked kernels: what llama.cpp
// runs on this machine. The table says so.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NO_AMX_C = String.raw`// Refuses AMX tile data to the process (arch_prctl ARCH_REQ_XCOMP_PERM fails with EOPNOTSUPP);
// every other syscall() goes through unchanged. Written by tests/bench/llamacpp.mjs.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (n == SYS_arch_prctl && a[0] == 0x1023) { errno = EOPNOTSUPP; return -1; }
  register long r10 __asm__("r10") = a[3];
  register long r8 __asm__("r8") = a[4];
  register long r9 __asm__("r9") = a[5];
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  if (r < 0 && r > -4096) { errno = (int)-r; return -1; }
  return r;
}
`;

const tail = (s, n = 6) => (s ?? '').trim().split('\n').slice(-n).join('\n');

/**
 * The llama.cpp runner: {run(model) -> one run's record, info}. Throws, saying what to do, when
 * the venv or the peers' script is missing. `probeModel` is a model file for the AMX probe.
 */
export function llamaCpp({ root, shared, out, log, probeModel }) {
  const python = process.env.LLAMA_PYTHON ?? `${root}build/llama-venv/bin/python`;
  const script = `${shared}/peers/llamacpp/bench.py`;
  if (!existsSync(python)) throw new Error(`${python} is missing: run scripts/quants.sh (it builds llama-cpp-python 0.3.36 into build/llama-venv)`);
  if (!existsSync(script)) throw new Error(`${script} is missing (the peers' llama.cpp bench; --shared DIR points elsewhere)`);
  const raw = mkdtempSync(join(tmpdir(), 'plumbing-llamacpp-'));
  const env = { ...process.env };
  const info = { python, script, amx: 'not advertised', system_info: null, version: null };

  const call = (model, extra = [], bench = script, threads = 1) => spawnSync(python, [bench, '--model', model, '--runs', '1', '--threads', String(threads),
    '--wait-idle', '0', '--max-retries', '0', '--out-dir', raw, ...extra],
  { encoding: 'utf8', maxBuffer: 1 << 26, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 600e3 });

  // The probe: prefill (where AMX would run) and one token.
  const cpuFlags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
  if (cpuFlags.includes('amx_int8') || cpuFlags.includes('amx_tile')) {
    const p = call(probeModel, ['--n-predict', '1', '--warmup-tokens', '0']);
    if (p.signal === 'SIGILL' || p.status === 132 || p.status === -4) {
      const dir = `${out}/llamacpp`;
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/no_amx.c`, NO_AMX_C);
      const cc = spawnSync('cc', ['-O2', '-shared', '-fPIC', '-o', `${dir}/no_amx.so`, `${dir}/no_amx.c`], { encoding: 'utf8' });
      if (cc.status !== 0) throw new Error(`llama.cpp dies of SIGILL on this machine (AMX) and the library that turns AMX off did not compile (cc ${dir}/no_amx.c): ${tail(cc.stderr)}`);
      env.LD_PRELOAD = [`${dir}/no_amx.so`, env.LD_PRELOAD].filter(Boolean).join(' ');
      info.amx = 'advertised, faults here (SIGILL): refused to llama.cpp, which then runs its AVX-512 / repack kernels';
      log(`llama.cpp: AMX ${info.amx}`);
    } else if (p.status !== 0) {
      throw new Error(`llama.cpp probe failed (${p.signal ?? `exit ${p.status}`}): ${tail(p.stderr)}`);
    } else {
      info.amx = 'advertised and used by llama.cpp';
    }
  }

  return {
    info,
    /**
     * One measurement of `model`: {load_ms, prompt_tokens, generated, prefill_tok_s, decode_tok_s, text, ...}.
     * `peers`: a directory laid out as ../shared/peers (llamacpp/bench.py and the prompt.json it reads).
     * `threads`: llama.cpp's n_threads (= n_threads_batch).
     */
    run(model, peers = `${shared}/peers`, threads = 1) {
      const r = call(model, [], `${peers}/llamacpp/bench.py`, threads);
      if (r.error) throw new Error(`llama.cpp bench.py: ${r.error.message}`);
      if (r.status !== 0) throw new Error(`llama.cpp bench.py ${r.signal ?? `exit ${r.status}`}: ${tail(r.stderr)}`);
      const j = JSON.parse(r.stdout);
      info.system_info ??= j.versions?.llama_cpp_system_info;
      info.version ??= j.versions?.llama_cpp_python;
      const x = j.threads[String(threads)].runs[0];
      return { load_ms: x.load_ms, prompt_tokens: x.prompt_tokens, generated: x.generated_tokens,
        prefill_tok_s: x.prefill_tok_s, decode_tok_s: x.decode_tok_s, text: x.text,
        matches_reference_ids: x.matches_reference_ids };
    },
    close() { rmSync(raw, { recursive: true, force: true }); },
  };
}
