;; The loops over every byte of a block, in WebAssembly: the Huffman-only coder's histogram and coding of 4-byte
;; groups through the pair table (huffman-block.ts, through quad-coder-wasm.ts), and the adaptive rule's count of
;; 4-byte repeats in a sampled window (adaptive.ts, through sample-wasm.ts). scripts/wasm.sh assembles this file
;; (wat2wasm, from the Debian package wabt) into block-loops-wasm.ts; test/unit/block-loops.test.ts checks the
;; committed bytes, and it and test/compress.test.ts that these loops give what their JavaScript references give.
;;
;; Why: a 64-bit bit buffer. JavaScript's bitwise operators work on 32 bits, so its loop must split a code across
;; two words with masks; here two pair codes (at most 48 bits) and the pending bits (at most 7) go into one i64,
;; which is stored whole (8 bytes, unaligned) after every group, the output pointer moving on by the bytes filled.
;; Measured on 64 MiB of bf16 weights, one core: the coding loop 2.2 GB/s (JavaScript: 0.5), the histogram 2 GB/s
;; (1.2). The bytes are the same: LSB-first bits in a byte stream are the little-endian words' bits.
;;
;; Memory: each caller lays out its own instance's (quad-coder-wasm.ts: the pair table (65536 u32: pair (first
;; byte | second << 8) -> code | length << 24, codes at most 24 bits), the histogram's four tables, the block, the
;; output; sample-wasm.ts: the two hash tables, the histogram's, the sampled windows).
(module
  (memory (export "memory") 8)
  ;; The output's state between calls: the next byte to write, the pending bits (at most 7) and their count.
  (global $p (mut i32) (i32.const 0))
  (global $buf (mut i64) (i64.const 0))
  (global $cnt (mut i32) (i32.const 0))

  ;; Counts the bytes of [$in, $in + $n) into four tables of 256 u32 at $h, one per offset mod 4 of the whole 4-byte
  ;; groups (consecutive equal bytes then do not wait on each other's increment); the bytes after the last whole
  ;; group into the first table.
  (func (export "histogram") (param $in i32) (param $n i32) (param $h i32)
    (local $i i32) (local $end i32) (local $q i32) (local $a i32)
    (memory.fill (local.get $h) (i32.const 0) (i32.const 4096))
    (local.set $i (local.get $in))
    (local.set $end (i32.add (local.get $in) (i32.and (local.get $n) (i32.const -4))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $q (i32.load (local.get $i)))
        ;; byte 0: ($q & 255) * 4
        (local.set $a (i32.add (local.get $h) (i32.shl (i32.and (local.get $q) (i32.const 255)) (i32.const 2))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
        ;; byte 1: 1024 + (($q >> 8) & 255) * 4
        (local.set $a (i32.add (local.get $h) (i32.add (i32.const 1024) (i32.and (i32.shr_u (local.get $q) (i32.const 6)) (i32.const 1020)))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
        ;; byte 2: 2048 + (($q >> 16) & 255) * 4
        (local.set $a (i32.add (local.get $h) (i32.add (i32.const 2048) (i32.and (i32.shr_u (local.get $q) (i32.const 14)) (i32.const 1020)))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
        ;; byte 3: 3072 + ($q >> 24) * 4
        (local.set $a (i32.add (local.get $h) (i32.add (i32.const 3072) (i32.shl (i32.shr_u (local.get $q) (i32.const 24)) (i32.const 2)))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (local.set $end (i32.add (local.get $in) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $a (i32.add (local.get $h) (i32.shl (i32.load8_u (local.get $i)) (i32.const 2))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; Starts an output at $out, no bits pending.
  (func (export "begin") (param $out i32)
    (global.set $p (local.get $out))
    (global.set $buf (i64.const 0))
    (global.set $cnt (i32.const 0)))

  ;; Appends $count (at most 24) bits of $value, least significant first. Stores 8 bytes at the output's end; the
  ;; caller leaves room.
  (func (export "put") (param $value i32) (param $count i32)
    (local $buf i64) (local $cnt i32)
    (local.set $buf (i64.or (global.get $buf) (i64.shl (i64.extend_i32_u (local.get $value)) (i64.extend_i32_u (global.get $cnt)))))
    (local.set $cnt (i32.add (global.get $cnt) (local.get $count)))
    (i64.store (global.get $p) (local.get $buf))
    (global.set $p (i32.add (global.get $p) (i32.shr_u (local.get $cnt) (i32.const 3))))
    (global.set $buf (i64.shr_u (local.get $buf) (i64.extend_i32_u (i32.and (local.get $cnt) (i32.const 56)))))
    (global.set $cnt (i32.and (local.get $cnt) (i32.const 7))))

  ;; Codes the $n whole 4-byte groups at $in, two pairs each, through the pair table at $t.
  (func (export "codeQuads") (param $in i32) (param $n i32) (param $t i32)
    (local $i i32) (local $end i32) (local $q i32) (local $e i32) (local $p i32) (local $buf i64) (local $cnt i32)
    (local.set $p (global.get $p))
    (local.set $buf (global.get $buf))
    (local.set $cnt (global.get $cnt))
    (local.set $i (local.get $in))
    (local.set $end (i32.add (local.get $in) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $q (i32.load (local.get $i)))
        ;; first pair: bytes 0 and 1
        (local.set $e (i32.load (i32.add (local.get $t) (i32.shl (i32.and (local.get $q) (i32.const 65535)) (i32.const 2)))))
        (local.set $buf (i64.or (local.get $buf) (i64.shl (i64.extend_i32_u (i32.and (local.get $e) (i32.const 16777215))) (i64.extend_i32_u (local.get $cnt)))))
        (local.set $cnt (i32.add (local.get $cnt) (i32.shr_u (local.get $e) (i32.const 24))))
        ;; second pair: bytes 2 and 3
        (local.set $e (i32.load (i32.add (local.get $t) (i32.shl (i32.shr_u (local.get $q) (i32.const 16)) (i32.const 2)))))
        (local.set $buf (i64.or (local.get $buf) (i64.shl (i64.extend_i32_u (i32.and (local.get $e) (i32.const 16777215))) (i64.extend_i32_u (local.get $cnt)))))
        (local.set $cnt (i32.add (local.get $cnt) (i32.shr_u (local.get $e) (i32.const 24))))
        ;; at most 7 + 48 bits pending: store them all, move on by the whole bytes, keep the rest
        (i64.store (local.get $p) (local.get $buf))
        (local.set $p (i32.add (local.get $p) (i32.shr_u (local.get $cnt) (i32.const 3))))
        (local.set $buf (i64.shr_u (local.get $buf) (i64.extend_i32_u (i32.and (local.get $cnt) (i32.const 56)))))
        (local.set $cnt (i32.and (local.get $cnt) (i32.const 7)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (global.set $p (local.get $p))
    (global.set $buf (local.get $buf))
    (global.set $cnt (local.get $cnt)))

  ;; Bits pending (0-7): what is left to the next byte boundary is 8 minus this, unless 0.
  (func (export "pending") (result i32)
    (global.get $cnt))

  ;; The output's end: the bytes filled, plus the pending bits' byte (already stored; its spare bits are 0).
  (func (export "end") (result i32)
    (i32.add (global.get $p) (i32.ne (global.get $cnt) (i32.const 0))))

  ;; The 4-byte sequences of the window [$at, $end) that start again after an earlier start in it with the same hash:
  ;; adaptive.ts's windowRepeats, step for step. Per hash slot (12 bits of a Fibonacci hash), $last holds the
  ;; stamped offset of the last sequence seen and $lastWord the sequence; a slot counts only if stamped in this
  ;; window ($stamp, which grows by more than a window each time). Branch-free, as the JavaScript is.
  (func (export "repeats") (param $at i32) (param $end i32) (param $last i32) (param $lastWord i32) (param $stamp i32) (result i32)
    (local $i i32) (local $word i32) (local $slot i32) (local $r i32)
    (if (i32.lt_s (i32.sub (local.get $end) (local.get $at)) (i32.const 4)) (then (return (i32.const 0))))
    (local.set $word (i32.or (i32.or
      (i32.shl (i32.load8_u (local.get $at)) (i32.const 8))
      (i32.shl (i32.load8_u offset=1 (local.get $at)) (i32.const 16)))
      (i32.shl (i32.load8_u offset=2 (local.get $at)) (i32.const 24))))
    (local.set $i (local.get $at))
    (block $done
      (loop $next
        (br_if $done (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (local.set $word (i32.or (i32.shr_u (local.get $word) (i32.const 8)) (i32.shl (i32.load8_u offset=3 (local.get $i)) (i32.const 24))))
        ;; slot * 4: the top 12 bits of word * 0x9e3779b1
        (local.set $slot (i32.shl (i32.shr_u (i32.mul (local.get $word) (i32.const 0x9e3779b1)) (i32.const 20)) (i32.const 2)))
        (local.set $r (i32.add (local.get $r) (i32.and
          (i32.xor (i32.shr_u (i32.sub (i32.load (i32.add (local.get $last) (local.get $slot))) (local.get $stamp)) (i32.const 31)) (i32.const 1))
          (i32.eq (i32.load (i32.add (local.get $lastWord) (local.get $slot))) (local.get $word)))))
        (i32.store (i32.add (local.get $last) (local.get $slot)) (i32.add (local.get $stamp) (i32.sub (local.get $i) (local.get $at))))
        (i32.store (i32.add (local.get $lastWord) (local.get $slot)) (local.get $word))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $r))
)
