# Typical shell work for a static busybox, traced by derive.sh to derive `syscalls static_binary`.
# Run as: busybox sh static_workload.sh WORKDIR
set -e
W="$1"
mkdir -p "$W/docs" "$W/out"
cd "$W"
i=0
while [ $i -lt 10 ]; do echo "note $i" > "docs/note-$i.txt"; i=$((i + 1)); done
echo appended >> docs/note-0.txt
busybox ls -la docs > out/listing.txt
busybox cat docs/note-1.txt docs/note-2.txt > out/cat.txt
busybox sh -c 'busybox wc -l docs/*.txt > out/wc.txt; busybox head -n 1 docs/note-3.txt'
busybox cp docs/note-4.txt out/copy.txt
busybox mv out/copy.txt out/moved.txt
busybox chmod 600 out/moved.txt
busybox touch out/moved.txt
busybox rm out/moved.txt
busybox find docs -name '*.txt' -type f | busybox sort > out/found.txt
busybox grep -r note docs > /dev/null
busybox sed -e 's/note/NOTE/' docs/note-5.txt > out/sed.txt
busybox tar -cf out/docs.tar docs
busybox gzip -c out/docs.tar > out/docs.tar.gz
busybox sha256sum docs/*.txt > out/sums.txt
busybox stat docs > /dev/null
busybox date > /dev/null
busybox sleep 0.01
busybox mkdir -p out/a/b && busybox rmdir out/a/b out/a
busybox readlink -f docs > /dev/null
busybox pwd > /dev/null
busybox ln -s note-1.txt docs/link && busybox rm docs/link
X=$(busybox cat docs/note-6.txt | busybox tr a-z A-Z)
test -n "$X"
busybox ls docs | while read f; do : "$f"; done
echo done
