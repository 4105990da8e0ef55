"""measure.py OUT.json -- CMD...: run CMD, then write one JSON object to
OUT.json with the child's wall time, user+sys CPU seconds and peak RSS
(getrusage of the waited child), plus CMD's stdout parsed as JSON under
"report" when it is one (banditore --json). Exit status: CMD's."""
import json, os, resource, subprocess, sys, time

out = sys.argv[1]
cmd = sys.argv[3:]
t0 = time.monotonic()
p = subprocess.run(cmd, stdout=subprocess.PIPE)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rec = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
       "sys_s": ru.ru_stime, "maxrss_kb": ru.ru_maxrss, "exit": p.returncode}
try:
    rec["report"] = json.loads(p.stdout.decode().strip().splitlines()[-1])
except Exception:
    rec["stdout"] = p.stdout.decode(errors="replace")[-500:]
json.dump(rec, open(out, "w"))
sys.exit(p.returncode)
