;; The WASI layer's probe module (WASI preview 1). It runs a list of steps that the host
;; writes into memory at 65536 and prints one byte per step on stdout: the step's errno (0 is
;; success), 255 when no preopen has the step's name, or a count.
;;
;; At 65536: the number of steps, then 20 bytes per step: op, name offset, name length,
;; path offset, path length (little-endian u32; offsets are memory addresses). The name is a
;; preopen's guest path; the path is relative to that preopen.
;;
;; Ops (lookups follow symlinks; a descriptor that opens is closed at once):
;;   1 mkdir path                      2 create path (O_CREAT, FD_WRITE)
;;   3 open path for reading (FD_READ) 4 open directory path (O_DIRECTORY, FD_READ|FD_READDIR)
;;   5 count descriptors 0..1023 that are sockets (the name and path are unused)
;;   6 open path for appending (FD_WRITE, APPEND; no O_CREAT, no O_TRUNC)
;;   7 the same with O_CREAT
;;   8 0 when a preopen's name is the step's name or a component-wise prefix of it, else 255
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") {{PAGES}})
  (data (i32.const 65536) "{{PROGRAM}}")

  ;; 200: stdout iovec; 300: an opened descriptor; 400: a fdstat; 512: a prestat;
  ;; 600..4696: a preopen's name; 8192: the result bytes.

  ;; The name of preopen `fd` into 600, and its length; -1 when `fd` is not a preopen, -2
  ;; when there are no more descriptors.
  (func $name (param $fd i32) (result i32)
    (local $e i32) (local $len i32)
    (local.set $e (call $prestat_get (local.get $fd) (i32.const 512)))
    (if (i32.eq (local.get $e) (i32.const 8)) (then (return (i32.const -2))))
    (if (local.get $e) (then (return (i32.const -1))))
    (local.set $len (i32.load (i32.const 516)))
    (if (i32.gt_u (local.get $len) (i32.const 4096)) (then (return (i32.const -1))))
    (if (call $prestat_dir_name (local.get $fd) (i32.const 600) (local.get $len))
      (then (return (i32.const -1))))
    (local.get $len))

  ;; True when the `len` bytes at 600 equal those at `off`.
  (func $same (param $off i32) (param $len i32) (result i32)
    (local $i i32)
    (block $differ
      (loop $cmp
        (if (i32.ge_u (local.get $i) (local.get $len)) (then (return (i32.const 1))))
        (br_if $differ
          (i32.ne
            (i32.load8_u (i32.add (i32.const 600) (local.get $i)))
            (i32.load8_u (i32.add (local.get $off) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $cmp)))
    (i32.const 0))

  ;; The descriptor of the preopen named exactly [off, off+len), or -1.
  (func $find (param $off i32) (param $len i32) (result i32)
    (local $fd i32) (local $n i32)
    (local.set $fd (i32.const 3))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (local.get $fd) (i32.const 1023)))
        (local.set $n (call $name (local.get $fd)))
        (br_if $done (i32.eq (local.get $n) (i32.const -2)))
        (if (i32.and
              (i32.eq (local.get $n) (local.get $len))
              (call $same (local.get $off) (local.get $len)))
          (then (return (local.get $fd))))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (i32.const -1))

  ;; 0 when some preopen's name is [off, off+len) or a component-wise prefix of it; else 255.
  (func $held (param $off i32) (param $len i32) (result i32)
    (local $fd i32) (local $n i32) (local $next_byte i32)
    (local.set $fd (i32.const 3))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (local.get $fd) (i32.const 1023)))
        (local.set $n (call $name (local.get $fd)))
        (br_if $done (i32.eq (local.get $n) (i32.const -2)))
        (if (i32.and
              (i32.and (i32.ge_s (local.get $n) (i32.const 1)) (i32.le_u (local.get $n) (local.get $len)))
              (call $same (local.get $off) (local.get $n)))
          (then
            (local.set $next_byte
              (i32.load8_u (i32.add (local.get $off) (local.get $n))))
            (if (i32.or
                  (i32.or
                    (i32.eq (local.get $n) (local.get $len))
                    (i32.eq (local.get $next_byte) (i32.const 47)))
                  (i32.eq (i32.load8_u (i32.add (i32.const 599) (local.get $n))) (i32.const 47)))
              (then (return (i32.const 0))))))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (i32.const 255))

  ;; path_open and close; the errno.
  (func $open (param $dir i32) (param $off i32) (param $len i32)
    (param $oflags i32) (param $rights i64) (param $fdflags i32) (result i32)
    (local $e i32)
    (local.set $e
      (call $path_open (local.get $dir) (i32.const 1) (local.get $off) (local.get $len)
        (local.get $oflags) (local.get $rights) (local.get $rights) (local.get $fdflags)
        (i32.const 300)))
    (if (i32.eqz (local.get $e)) (then (drop (call $fd_close (i32.load (i32.const 300))))))
    (local.get $e))

  ;; Descriptors 0..1023 whose type is a socket (SOCKET_DGRAM 5, SOCKET_STREAM 6).
  (func $sockets (result i32)
    (local $fd i32) (local $n i32) (local $t i32)
    (loop $next
      (if (i32.eqz (call $fdstat (local.get $fd) (i32.const 400)))
        (then
          (local.set $t (i32.load8_u (i32.const 400)))
          (if (i32.or (i32.eq (local.get $t) (i32.const 5)) (i32.eq (local.get $t) (i32.const 6)))
            (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 1024))))
    (select (local.get $n) (i32.const 255) (i32.lt_u (local.get $n) (i32.const 255))))

  (func $step (param $op i32) (param $noff i32) (param $nlen i32) (param $off i32) (param $len i32)
    (result i32)
    (local $dir i32)
    (if (i32.eq (local.get $op) (i32.const 5)) (then (return (call $sockets))))
    (if (i32.eq (local.get $op) (i32.const 8))
      (then (return (call $held (local.get $noff) (local.get $nlen)))))
    (local.set $dir (call $find (local.get $noff) (local.get $nlen)))
    (if (i32.lt_s (local.get $dir) (i32.const 0)) (then (return (i32.const 255))))
    (if (i32.eq (local.get $op) (i32.const 1))
      (then (return (call $path_create_directory (local.get $dir) (local.get $off) (local.get $len)))))
    (if (i32.eq (local.get $op) (i32.const 2))
      (then (return (call $open (local.get $dir) (local.get $off) (local.get $len)
        (i32.const 1) (i64.const 0x40) (i32.const 0)))))
    (if (i32.eq (local.get $op) (i32.const 3))
      (then (return (call $open (local.get $dir) (local.get $off) (local.get $len)
        (i32.const 0) (i64.const 0x2) (i32.const 0)))))
    (if (i32.eq (local.get $op) (i32.const 4))
      (then (return (call $open (local.get $dir) (local.get $off) (local.get $len)
        (i32.const 2) (i64.const 0x4002) (i32.const 0)))))
    (if (i32.eq (local.get $op) (i32.const 6))
      (then (return (call $open (local.get $dir) (local.get $off) (local.get $len)
        (i32.const 0) (i64.const 0x40) (i32.const 1)))))
    (if (i32.eq (local.get $op) (i32.const 7))
      (then (return (call $open (local.get $dir) (local.get $off) (local.get $len)
        (i32.const 1) (i64.const 0x40) (i32.const 1)))))
    (i32.const 254))

  (func (export "_start")
    (local $n i32) (local $i i32) (local $rec i32)
    (local.set $n (i32.load (i32.const 65536)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $rec (i32.add (i32.const 65540) (i32.mul (local.get $i) (i32.const 20))))
        (i32.store8 (i32.add (i32.const 8192) (local.get $i))
          (call $step
            (i32.load (local.get $rec))
            (i32.load offset=4 (local.get $rec))
            (i32.load offset=8 (local.get $rec))
            (i32.load offset=12 (local.get $rec))
            (i32.load offset=16 (local.get $rec))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 200) (i32.const 8192))
    (i32.store (i32.const 204) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))))
