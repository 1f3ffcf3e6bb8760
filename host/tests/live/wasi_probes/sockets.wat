;; A WASI preview 1 module looking for a network: preview 1 cannot create a socket, only use
;; one the host hands over. For each descriptor 0 to 15 it reports, one byte each, the errno
;; of `sock_accept`, `sock_send` and `sock_shutdown` (0 would mean a socket was there).
(module
  (import "wasi_snapshot_preview1" "sock_accept"
    (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send"
    (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown"
    (func $sock_shutdown (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "GET / HTTP/1.0\0d\0a\0d\0a")

  (func $report (param $e i32)
    (i32.store8 (i32.const 100) (local.get $e))
    (i32.store (i32.const 200) (i32.const 100))
    (i32.store (i32.const 204) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))

  (func (export "_start")
    (local $fd i32)
    (i32.store (i32.const 400) (i32.const 1024))
    (i32.store (i32.const 404) (i32.const 18))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $fd) (i32.const 16)))
        (call $report (call $sock_accept (local.get $fd) (i32.const 0) (i32.const 300)))
        (call $report (call $sock_send (local.get $fd) (i32.const 400) (i32.const 1) (i32.const 0) (i32.const 420)))
        (call $report (call $sock_shutdown (local.get $fd) (i32.const 3)))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))))
