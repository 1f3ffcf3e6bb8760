;; A WASI preview 1 probe: finds the preopen named {{GUEST}}, then runs {{BODY}}, which
;; reports the errno of each step as one byte on stdout (0 = success; 0xff = the preopen was
;; not found). The live tests fill in the placeholders and assemble it with the `wat` crate:
;;
;;   {{GUEST}} {{GUEST_LEN}}   the preopen's guest path
;;   {{PATH}} {{PATH_LEN}}     the path the body works on, relative to that preopen
;;   {{PATH2}} {{PATH2_LEN}}   a second path (rename and link targets, symlink contents)
;;   {{BODY}}                  calls to the helpers below
;;
;; Helpers (each reports what it did):
;;   (call $open  oflags rights fdflags lookupflags)        path_open PATH
;;   (call $open_write oflags rights fdflags lookupflags)   path_open PATH, then fd_write
;;   (call $open_read  oflags rights fdflags lookupflags)   path_open PATH, then fd_read
;;   (call $open_truncate oflags rights fdflags lookupflags) path_open PATH, then set size 0
;;   (call $mkdir) (call $rmdir) (call $unlink) (call $symlink) (call $rename) (call $link)
;;   (call $set_times)
;;   (call $enter2)    open PATH2 as a directory (every right but FD_WRITE) and work beneath
;;                     it from then on
;;
;; oflags: CREAT 1, DIRECTORY 2, EXCL 4, TRUNC 8. lookupflags: SYMLINK_FOLLOW 1.
;; rights: FD_READ 0x2, FD_WRITE 0x40, FD_FILESTAT_SET_SIZE 0x400000, all 0x3fffffff.
;; fdflags: APPEND 1, DSYNC 2, NONBLOCK 4, RSYNC 8, SYNC 16.
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory"
    (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link"
    (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times"
    (func $path_filestat_set_times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))

  (memory (export "memory") 1)
  (global $dir (mut i32) (i32.const -1))

  ;; 100: the report byte; 200: its iovec; 300: the opened fd; 400: the data iovec;
  ;; 420: byte counts; 512: the prestat; 600: a preopen's name.
  (data (i32.const 1024) "{{GUEST}}")
  (data (i32.const 2048) "{{PATH}}")
  (data (i32.const 2560) "{{PATH2}}")
  (data (i32.const 3072) "policyc-probe\n")

  (func $report (param $e i32)
    (i32.store8 (i32.const 100) (local.get $e))
    (i32.store (i32.const 200) (i32.const 100))
    (i32.store (i32.const 204) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))

  ;; The descriptor of the preopen named GUEST, or -1.
  (func $find (result i32)
    (local $fd i32) (local $len i32) (local $i i32) (local $e i32)
    (local.set $fd (i32.const 3))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (local.get $fd) (i32.const 64)))
        (local.set $e (call $prestat_get (local.get $fd) (i32.const 512)))
        (br_if $done (i32.eq (local.get $e) (i32.const 8)))
        (if (i32.eqz (local.get $e))
          (then
            (local.set $len (i32.load (i32.const 516)))
            (if (i32.and
                  (i32.eq (local.get $len) (i32.const {{GUEST_LEN}}))
                  (i32.eqz (call $prestat_dir_name (local.get $fd) (i32.const 600) (local.get $len))))
              (then
                (local.set $i (i32.const 0))
                (block $differ
                  (loop $cmp
                    (if (i32.ge_u (local.get $i) (local.get $len))
                      (then (return (local.get $fd))))
                    (br_if $differ
                      (i32.ne
                        (i32.load8_u (i32.add (i32.const 600) (local.get $i)))
                        (i32.load8_u (i32.add (i32.const 1024) (local.get $i)))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $cmp)))))))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (i32.const -1))

  (func $do_open (param $oflags i32) (param $rights i64) (param $fdflags i32) (param $lookup i32)
    (result i32)
    (call $path_open (global.get $dir) (local.get $lookup)
      (i32.const 2048) (i32.const {{PATH_LEN}}) (local.get $oflags)
      (local.get $rights) (local.get $rights) (local.get $fdflags) (i32.const 300)))

  (func $open (param i32 i64 i32 i32)
    (local $e i32)
    (local.set $e (call $do_open (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
    (call $report (local.get $e))
    (if (i32.eqz (local.get $e)) (then (drop (call $fd_close (i32.load (i32.const 300)))))))

  (func $open_write (param i32 i64 i32 i32)
    (local $e i32)
    (local.set $e (call $do_open (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
    (call $report (local.get $e))
    (if (i32.eqz (local.get $e))
      (then
        (i32.store (i32.const 400) (i32.const 3072))
        (i32.store (i32.const 404) (i32.const 14))
        (call $report (call $fd_write (i32.load (i32.const 300)) (i32.const 400) (i32.const 1) (i32.const 420)))
        (drop (call $fd_close (i32.load (i32.const 300)))))))

  (func $open_read (param i32 i64 i32 i32)
    (local $e i32)
    (local.set $e (call $do_open (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
    (call $report (local.get $e))
    (if (i32.eqz (local.get $e))
      (then
        (i32.store (i32.const 400) (i32.const 3584))
        (i32.store (i32.const 404) (i32.const 256))
        (call $report (call $fd_read (i32.load (i32.const 300)) (i32.const 400) (i32.const 1) (i32.const 420)))
        (drop (call $fd_close (i32.load (i32.const 300)))))))

  (func $open_truncate (param i32 i64 i32 i32)
    (local $e i32)
    (local.set $e (call $do_open (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
    (call $report (local.get $e))
    (if (i32.eqz (local.get $e))
      (then
        (call $report (call $fd_filestat_set_size (i32.load (i32.const 300)) (i64.const 0)))
        (drop (call $fd_close (i32.load (i32.const 300)))))))

  (func $mkdir
    (call $report (call $path_create_directory (global.get $dir) (i32.const 2048) (i32.const {{PATH_LEN}}))))
  (func $rmdir
    (call $report (call $path_remove_directory (global.get $dir) (i32.const 2048) (i32.const {{PATH_LEN}}))))
  (func $unlink
    (call $report (call $path_unlink_file (global.get $dir) (i32.const 2048) (i32.const {{PATH_LEN}}))))
  (func $symlink
    (call $report (call $path_symlink (i32.const 2560) (i32.const {{PATH2_LEN}})
      (global.get $dir) (i32.const 2048) (i32.const {{PATH_LEN}}))))
  (func $rename
    (call $report (call $path_rename (global.get $dir) (i32.const 2048) (i32.const {{PATH_LEN}})
      (global.get $dir) (i32.const 2560) (i32.const {{PATH2_LEN}}))))
  (func $link
    (call $report (call $path_link (global.get $dir) (i32.const 0) (i32.const 2048) (i32.const {{PATH_LEN}})
      (global.get $dir) (i32.const 2560) (i32.const {{PATH2_LEN}}))))
  (func $set_times
    ;; fst_flags: ATIM_NOW | MTIM_NOW
    (call $report (call $path_filestat_set_times (global.get $dir) (i32.const 1)
      (i32.const 2048) (i32.const {{PATH_LEN}}) (i64.const 0) (i64.const 0) (i32.const 10))))

  (func $enter2
    (local $e i32)
    (local.set $e (call $path_open (global.get $dir) (i32.const 0)
      (i32.const 2560) (i32.const {{PATH2_LEN}}) (i32.const 2)
      (i64.const 0x3fffffbf) (i64.const 0x3fffffff) (i32.const 0) (i32.const 300)))
    (call $report (local.get $e))
    (if (i32.eqz (local.get $e)) (then (global.set $dir (i32.load (i32.const 300))))))

  (func (export "_start")
    (global.set $dir (call $find))
    (if (i32.lt_s (global.get $dir) (i32.const 0))
      (then (call $report (i32.const 255)) (return)))
    {{BODY}}))
