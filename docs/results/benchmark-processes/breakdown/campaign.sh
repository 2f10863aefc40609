#!/bin/bash
# interleaved before/after processes benchmark, paper-cnn 12 rounds
cd /tmp/oh/bp
PAPER="--set reputation.policy=reward_penalty --set reputation.acceptance_threshold=0.0"
for run in "$@"; do
  tree=${run%%-*}; rule=$(echo $run | cut -d- -f2)
  case $tree in after|tip) P=/work/wt/overhead/src;; *) P=/tmp/oh/base/src;; esac
  extra=""; [ $rule = paper ] && extra="$PAPER"
  echo "$(date +%T) start $run load $(cut -d' ' -f1 /proc/loadavg)" >> runs.log
  PYTHONPATH=$P nice -n 10 timeout 900 python /tmp/oh/bp/dec_only.py experiment benchmark --runtime processes --rounds 12 $extra --out /tmp/oh/bp/$run --verbose > /tmp/oh/bp/$run.out 2>&1
  echo "$(date +%T) end $run rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> runs.log
done
