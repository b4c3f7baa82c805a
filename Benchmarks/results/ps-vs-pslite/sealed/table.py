# The table of Docs/Benchmarks.md's "The sparse path against ps-lite" from the files beside this one:
#   python3 table.py .
# pslite-N.txt: ps-lite's shapes benchmark (not in this repository), "T<S>x<W>" then one JSON line per
# worker and op; plain-N.jsonl / default-N.jsonl: `hybridsync bench ps` (plain tcp; sealed ipc).
# Workers averaged within a sitting, medians over the three sittings N.
import json,glob,statistics as st,collections,sys
d=sys.argv[1] if len(sys.argv)>1 else "."
pl=collections.defaultdict(list); hs=collections.defaultdict(list)
for i in (1,2,3):
    per=collections.defaultdict(list)
    for l in open(f'{d}/pslite-{i}.txt'):
        t,j=l.split(' ',1); r=json.loads(j); S=int(t[1])
        per[(S,r['keys'],r['floats'],r['op'])].append(r['p50_us'])
    for k,v in per.items(): pl[k].append(sum(v)/len(v))
    for links in ('plain','default'):
        for l in open(f'{d}/{links}-{i}.jsonl'):
            r=json.loads(l)
            if r.get('kind')!='ps': continue
            hs[(links,r['servers'],r['keys'],r['floats'],r['op'])].append(r['p50_us'])
m=lambda v: st.median(v) if v else float('nan')
shapes=[(1,1),(100,64),(10000,64),(1000000,1),(16,262144)]
def fmt(us): return f"{us:.0f} us" if us<10000 else f"{us/1000:.1f} ms"
print("| keys x floats | op | ps-lite 1+1 tcp | plain 1+1 | default 1+1 | ps-lite 2+2 tcp | plain 2+2 | default 2+2 |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
n=[0,0,0]
for k,f in shapes:
    for op in ('push','pull','pushpull'):
        row=f"| {k:,} x {f:,} | {op} "
        for S in (1,2):
            a=m(pl[(S,k,f,op)]); p=m(hs[('plain',S,k,f,op)]); q=m(hs[('default',S,k,f,op)])
            row+=f"| {fmt(a)} | {p/a:.2f} | {q/a:.2f} "
            n[0]+=1; n[1]+= p/a<=1.0; n[2]+= q/a<=1.0
        print(row+"|")
print("cells",n)
