;; A WASI preview 2 component that resolves a name, connects to it over TCP, reads what the
;; server says first, writes a line, and reads the answer. Tests fill in the template:
;; @HOST@ (the name or IP literal), @HOSTLEN@ (its length in bytes), @PORT@ and @LINE@ (a
;; line to send, `hello` by default) with @LINELEN@.
;;
;; It prints one line per step to stdout and exits 0 when every step worked, 1 otherwise:
;;   `lookup E`, `socket E`, `connect E`    a wasi:sockets error-code (number) ended the run
;;   `lookup ok A.B.C.D`                    the address the name resolved to
;;   `connected`
;;   `read BYTES` / `read closed` / `read failed`
;;   `write failed`
(component $root
  (import "wasi:io/error@0.2.0" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))

  (import "wasi:io/poll@0.2.0" (instance $poll
    (export "pollable" (type $pollable (sub resource)))
    (export "[method]pollable.block" (func (param "self" (borrow $pollable))))))
  (alias export $poll "pollable" (type $pollable))

  (import "wasi:io/streams@0.2.0" (instance $streams
    (alias outer $root $error (type $outer-error))
    (export "error" (type $err (eq $outer-error)))
    (type $own-err (own $err))
    (type $stream-error' (variant (case "last-operation-failed" $own-err) (case "closed")))
    (export "stream-error" (type $stream-error (eq $stream-error')))
    (export "input-stream" (type $in (sub resource)))
    (export "output-stream" (type $out (sub resource)))
    (type $bytes (list u8))
    (export "[method]input-stream.blocking-read"
      (func (param "self" (borrow $in)) (param "len" u64)
        (result (result $bytes (error $stream-error)))))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $out)) (param "contents" $bytes)
        (result (result (error $stream-error)))))))
  (alias export $streams "input-stream" (type $input-stream))
  (alias export $streams "output-stream" (type $output-stream))

  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer $root $output-stream (type $os))
    (export "output-stream" (type $out (eq $os)))
    (export "get-stdout" (func (result (own $out))))))

  (import "wasi:sockets/network@0.2.0" (instance $network
    (export "network" (type (sub resource)))
    (type $ec (enum "unknown" "access-denied" "not-supported" "invalid-argument"
      "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress" "would-block"
      "invalid-state" "new-socket-limit" "address-not-bindable" "address-in-use"
      "remote-unreachable" "connection-refused" "connection-reset" "connection-aborted"
      "datagram-too-large" "name-unresolvable" "temporary-resolver-failure"
      "permanent-resolver-failure"))
    (export "error-code" (type $error-code (eq $ec)))
    (type $fam (enum "ipv4" "ipv6"))
    (export "ip-address-family" (type $family (eq $fam)))
    (type $v4 (tuple u8 u8 u8 u8))
    (export "ipv4-address" (type $ipv4-address (eq $v4)))
    (type $v6 (tuple u16 u16 u16 u16 u16 u16 u16 u16))
    (export "ipv6-address" (type $ipv6-address (eq $v6)))
    (type $ip (variant (case "ipv4" $ipv4-address) (case "ipv6" $ipv6-address)))
    (export "ip-address" (type $ip-address (eq $ip)))
    (type $v4sa (record (field "port" u16) (field "address" $ipv4-address)))
    (export "ipv4-socket-address" (type $ipv4-socket-address (eq $v4sa)))
    (type $v6sa (record (field "port" u16) (field "flow-info" u32)
      (field "address" $ipv6-address) (field "scope-id" u32)))
    (export "ipv6-socket-address" (type $ipv6-socket-address (eq $v6sa)))
    (type $sa (variant (case "ipv4" $ipv4-socket-address) (case "ipv6" $ipv6-socket-address)))
    (export "ip-socket-address" (type $ip-socket-address (eq $sa)))))
  (alias export $network "network" (type $network-r))
  (alias export $network "error-code" (type $error-code))
  (alias export $network "ip-address" (type $ip-address))
  (alias export $network "ip-address-family" (type $ip-address-family))
  (alias export $network "ip-socket-address" (type $ip-socket-address))

  (import "wasi:sockets/instance-network@0.2.0" (instance $instance-network
    (alias outer $root $network-r (type $n))
    (export "network" (type $net (eq $n)))
    (export "instance-network" (func (result (own $net))))))

  (import "wasi:sockets/ip-name-lookup@0.2.0" (instance $lookup
    (alias outer $root $pollable (type $p))
    (export "pollable" (type $pollable (eq $p)))
    (alias outer $root $network-r (type $n))
    (export "network" (type $net (eq $n)))
    (alias outer $root $error-code (type $e))
    (export "error-code" (type $error-code (eq $e)))
    (alias outer $root $ip-address (type $a))
    (export "ip-address" (type $ip-address (eq $a)))
    (export "resolve-address-stream" (type $stream (sub resource)))
    (export "resolve-addresses"
      (func (param "network" (borrow $net)) (param "name" string)
        (result (result (own $stream) (error $error-code)))))
    (export "[method]resolve-address-stream.resolve-next-address"
      (func (param "self" (borrow $stream))
        (result (result (option $ip-address) (error $error-code)))))))

  (import "wasi:sockets/tcp@0.2.0" (instance $tcp
    (alias outer $root $pollable (type $p))
    (export "pollable" (type $pollable (eq $p)))
    (alias outer $root $input-stream (type $i))
    (export "input-stream" (type $input-stream (eq $i)))
    (alias outer $root $output-stream (type $o))
    (export "output-stream" (type $output-stream (eq $o)))
    (alias outer $root $network-r (type $n))
    (export "network" (type $net (eq $n)))
    (alias outer $root $error-code (type $e))
    (export "error-code" (type $error-code (eq $e)))
    (alias outer $root $ip-socket-address (type $a))
    (export "ip-socket-address" (type $ip-socket-address (eq $a)))
    (export "tcp-socket" (type $socket (sub resource)))
    (export "[method]tcp-socket.start-connect"
      (func (param "self" (borrow $socket)) (param "network" (borrow $net))
        (param "remote-address" $ip-socket-address)
        (result (result (error $error-code)))))
    (type $streams (tuple (own $input-stream) (own $output-stream)))
    (export "[method]tcp-socket.finish-connect"
      (func (param "self" (borrow $socket)) (result (result $streams (error $error-code)))))
    (export "[method]tcp-socket.subscribe"
      (func (param "self" (borrow $socket)) (result (own $pollable))))))
  (alias export $tcp "tcp-socket" (type $tcp-socket))

  (import "wasi:sockets/tcp-create-socket@0.2.0" (instance $create
    (alias outer $root $network-r (type $n))
    (export "network" (type $net (eq $n)))
    (alias outer $root $error-code (type $e))
    (export "error-code" (type $error-code (eq $e)))
    (alias outer $root $ip-address-family (type $f))
    (export "ip-address-family" (type $ip-address-family (eq $f)))
    (alias outer $root $tcp-socket (type $s))
    (export "tcp-socket" (type $tcp-socket (eq $s)))
    (export "create-tcp-socket"
      (func (param "address-family" $ip-address-family)
        (result (result (own $tcp-socket) (error $error-code)))))))

  ;; Memory and a bump allocator for what the host hands back.
  (core module $Memory
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 8192))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $at) (local.get 3)))
      (local.get $at)))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))
  (alias core export $memory "realloc" (core func $realloc))

  (core func $instance-network (canon lower (func $instance-network "instance-network")))
  (core func $resolve-addresses
    (canon lower (func $lookup "resolve-addresses") (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $resolve-next
    (canon lower (func $lookup "[method]resolve-address-stream.resolve-next-address") (memory $mem)))
  (core func $create-tcp-socket
    (canon lower (func $create "create-tcp-socket") (memory $mem)))
  (core func $start-connect
    (canon lower (func $tcp "[method]tcp-socket.start-connect") (memory $mem)))
  (core func $finish-connect
    (canon lower (func $tcp "[method]tcp-socket.finish-connect") (memory $mem)))
  (core func $subscribe (canon lower (func $tcp "[method]tcp-socket.subscribe")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core func $blocking-read
    (canon lower (func $streams "[method]input-stream.blocking-read") (memory $mem) (realloc $realloc)))
  (core func $write
    (canon lower (func $streams "[method]output-stream.blocking-write-and-flush") (memory $mem)))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))

  (core module $Main
    (import "host" "instance-network" (func $instance-network (result i32)))
    (import "host" "resolve-addresses" (func $resolve-addresses (param i32 i32 i32 i32)))
    (import "host" "resolve-next" (func $resolve-next (param i32 i32)))
    (import "host" "create-tcp-socket" (func $create-tcp-socket (param i32 i32)))
    (import "host" "start-connect" (func $start-connect
      (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
    (import "host" "finish-connect" (func $finish-connect (param i32 i32)))
    (import "host" "subscribe" (func $subscribe (param i32) (result i32)))
    (import "host" "block" (func $block (param i32)))
    (import "host" "blocking-read" (func $blocking-read (param i32 i64 i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "mem" "memory" (memory 1))

    (data (i32.const 16) "@HOST@")
    (data (i32.const 512) "@LINE@\0a")
    (data (i32.const 600) "lookup socket connect read write closed failed ok connected")
    ;; offsets into the words above
    ;; lookup 600/6 socket 607/6 connect 614/7 read 622/4 write 627/5 closed 633/6
    ;; failed 640/6 ok 647/2 connected 650/9

    (global $stdout (mut i32) (i32.const 0))

    (func $print (param $ptr i32) (param $len i32)
      (call $write (global.get $stdout) (local.get $ptr) (local.get $len) (i32.const 1000)))
    (func $space (i32.store8 (i32.const 1020) (i32.const 32)) (call $print (i32.const 1020) (i32.const 1)))
    (func $newline (i32.store8 (i32.const 1020) (i32.const 10)) (call $print (i32.const 1020) (i32.const 1)))
    ;; Print `n` (0 to 255) in decimal.
    (func $number (param $n i32)
      (local $at i32)
      (local.set $at (i32.const 1040))
      (block $done
        (loop $digit
          (local.set $at (i32.sub (local.get $at) (i32.const 1)))
          (i32.store8 (local.get $at)
            (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
          (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
          (br_if $digit (local.get $n))))
      (call $print (local.get $at) (i32.sub (i32.const 1040) (local.get $at))))
    ;; Print `word code` and a newline, and fail.
    (func $fail (param $ptr i32) (param $len i32) (param $code i32) (result i32)
      (call $print (local.get $ptr) (local.get $len))
      (call $space)
      (call $number (local.get $code))
      (call $newline)
      (i32.const 1))
    ;; Read once from `in` and print `read BYTES`, `read closed` or `read failed`; 0 on data.
    (func $read (param $in i32) (result i32)
      (call $blocking-read (local.get $in) (i64.const 256) (i32.const 1100))
      (call $print (i32.const 622) (i32.const 4))
      (call $space)
      (if (i32.load8_u (i32.const 1100))
        (then
          (if (i32.load8_u (i32.const 1104))
            (then (call $print (i32.const 633) (i32.const 6)))
            (else (call $print (i32.const 640) (i32.const 6))))
          (call $newline)
          (return (i32.const 1))))
      (call $print (i32.load (i32.const 1104)) (i32.load (i32.const 1108)))
      (i32.const 0))

    (func (export "run") (result i32)
      (local $net i32) (local $stream i32) (local $socket i32) (local $pollable i32)
      (local $in i32) (local $out i32)
      (global.set $stdout (call $get-stdout))
      (local.set $net (call $instance-network))

      ;; Name lookup.
      (call $resolve-addresses (local.get $net) (i32.const 16) (i32.const @HOSTLEN@) (i32.const 1200))
      (if (i32.load8_u (i32.const 1200))
        (then (return (call $fail (i32.const 600) (i32.const 6) (i32.load8_u (i32.const 1204))))))
      (local.set $stream (i32.load (i32.const 1204)))
      (call $resolve-next (local.get $stream) (i32.const 1210))
      (if (i32.load8_u (i32.const 1210))
        (then (return (call $fail (i32.const 600) (i32.const 6) (i32.load8_u (i32.const 1212))))))
      ;; No address, or an IPv6 one: report as `lookup 255`.
      (if (i32.eqz (i32.load8_u (i32.const 1212)))
        (then (return (call $fail (i32.const 600) (i32.const 6) (i32.const 255)))))
      (if (i32.load8_u (i32.const 1214))
        (then (return (call $fail (i32.const 600) (i32.const 6) (i32.const 255)))))
      (call $print (i32.const 600) (i32.const 6))
      (call $space)
      (call $print (i32.const 647) (i32.const 2))
      (call $space)
      (call $number (i32.load8_u (i32.const 1216)))
      (i32.store8 (i32.const 1020) (i32.const 46))
      (call $print (i32.const 1020) (i32.const 1))
      (call $number (i32.load8_u (i32.const 1217)))
      (i32.store8 (i32.const 1020) (i32.const 46))
      (call $print (i32.const 1020) (i32.const 1))
      (call $number (i32.load8_u (i32.const 1218)))
      (i32.store8 (i32.const 1020) (i32.const 46))
      (call $print (i32.const 1020) (i32.const 1))
      (call $number (i32.load8_u (i32.const 1219)))
      (call $newline)

      ;; Socket and connect.
      (call $create-tcp-socket (i32.const 0) (i32.const 1232))
      (if (i32.load8_u (i32.const 1232))
        (then (return (call $fail (i32.const 607) (i32.const 6) (i32.load8_u (i32.const 1236))))))
      (local.set $socket (i32.load (i32.const 1236)))
      (call $start-connect (local.get $socket) (local.get $net)
        (i32.const 0) (i32.const @PORT@)
        (i32.load8_u (i32.const 1216)) (i32.load8_u (i32.const 1217))
        (i32.load8_u (i32.const 1218)) (i32.load8_u (i32.const 1219))
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 1240))
      (if (i32.load8_u (i32.const 1240))
        (then (return (call $fail (i32.const 614) (i32.const 7) (i32.load8_u (i32.const 1241))))))
      (local.set $pollable (call $subscribe (local.get $socket)))
      (block $connected
        (loop $wait
          (call $block (local.get $pollable))
          (call $finish-connect (local.get $socket) (i32.const 1248))
          (br_if $connected (i32.eqz (i32.load8_u (i32.const 1248))))
          ;; would-block (8): wait again
          (br_if $wait (i32.eq (i32.load8_u (i32.const 1252)) (i32.const 8)))
          (return (call $fail (i32.const 614) (i32.const 7) (i32.load8_u (i32.const 1252))))))
      (local.set $in (i32.load (i32.const 1252)))
      (local.set $out (i32.load (i32.const 1256)))
      (call $print (i32.const 650) (i32.const 9))
      (call $newline)

      ;; What the server says first, then a line and its answer.
      (if (call $read (local.get $in)) (then (return (i32.const 1))))
      (call $write (local.get $out) (i32.const 512) (i32.const @LINELEN@) (i32.const 1260))
      (if (i32.load8_u (i32.const 1260))
        (then
          (call $print (i32.const 627) (i32.const 5))
          (call $space)
          (call $print (i32.const 640) (i32.const 6))
          (call $newline)
          (return (i32.const 1))))
      (if (call $read (local.get $in)) (then (return (i32.const 1))))
      (i32.const 0)))

  (core instance $main (instantiate $Main
    (with "host" (instance
      (export "instance-network" (func $instance-network))
      (export "resolve-addresses" (func $resolve-addresses))
      (export "resolve-next" (func $resolve-next))
      (export "create-tcp-socket" (func $create-tcp-socket))
      (export "start-connect" (func $start-connect))
      (export "finish-connect" (func $finish-connect))
      (export "subscribe" (func $subscribe))
      (export "block" (func $block))
      (export "blocking-read" (func $blocking-read))
      (export "write" (func $write))
      (export "get-stdout" (func $get-stdout))))
    (with "mem" (instance $memory))))

  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run-instance)))
