#!/bin/bash
# ml-1m temporal: the in-memory path against training streamed from 8 shards, seeds 1-3.
cd "$(dirname "$0")"
I=inttower
run() { # name, args...
  name=$1; shift
  [ -s $name.json ] && return
  $I train "$@" --epochs 3 --patience 3 --no-publish --no-progress > $name.out 2> $name.err && sed -n '/^{/,$p' $name.out > $name.json
}
for seed in 1 2 3; do
  [ -d built-$seed ] || $I data build --dataset ml-1m --split temporal --seed $seed --shard-rows 100000 --out built-$seed --no-progress 2>/dev/null
  run memory-$seed --dataset ml-1m --split temporal --seed $seed &
  run streamed-$seed --built built-$seed
  wait
done
echo done > DONE
