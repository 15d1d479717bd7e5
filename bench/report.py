#!/usr/bin/env python3
"""Format bench/run's results (a TSV file) as Markdown: the table, ratio lines, growth
lines and the targets of the performance issue. Used by bench/run; see
docs/performance.md.

  report.py RESULTS.tsv MACHINE-LINE

RESULTS.tsv: one row per measurement, tab-separated, no header:
  users scenario label files wall cpu rss_mb keys status note
status: ok, failed, skipped, sample (measured on part of the users) or extrapolated.
"""
import sys

FLOOR_PARTS = ("floor", "floor_db", "floor_homes")
# Rows that are not accessctl (memory and growth targets do not apply to them).
NOT_ACCESSCTL = set(FLOOR_PARTS) | {"floor_total", "ansible_sample", "ansible_check"}
GROWTH_SLACK = 1.2  # "10x the users costs at most 12x the time"


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def n(users):
    return f"{users:,}"


def read(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            parts += [""] * (10 - len(parts))
            users, scenario, label, files, wall, cpu, rss, keys, status, note = parts[:10]
            rows.append({"users": int(users), "scenario": scenario, "label": label, "files": files,
                         "wall": num(wall), "cpu": num(cpu), "rss": num(rss), "keys": num(keys),
                         "status": status, "note": note})
    return rows


def with_floor_totals(rows):
    """Insert a "floor: total" row after the last floor part of each size that has all three."""
    out = []
    by_size = {}
    for r in rows:
        by_size.setdefault(r["users"], {})[r["scenario"]] = r
    done = set()
    for i, r in enumerate(rows):
        out.append(r)
        u = r["users"]
        parts = by_size[u]
        if (r["scenario"] in FLOOR_PARTS and u not in done
                and all(parts.get(p, {}).get("status") == "ok" for p in FLOOR_PARTS)
                and not any(x["users"] == u and x["scenario"] in FLOOR_PARTS for x in rows[i + 1:])):
            done.add(u)
            ps = [parts[p] for p in FLOOR_PARTS]
            out.append({"users": u, "scenario": "floor_total", "label": "floor: total (the three reads above)",
                        "files": "", "wall": sum(p["wall"] for p in ps), "cpu": sum(p["cpu"] for p in ps),
                        "rss": max(p["rss"] for p in ps), "keys": None, "status": "ok", "note": ""})
    return out


def cell_row(r):
    st = r["status"]
    if st == "failed":
        return f"| {r['label']} | {r['users']} | {r['files']} | FAILED ({r['note']}) | | | |"
    if st == "skipped":
        return f"| {r['label']} | {r['users']} | {r['files']} | skipped ({r['note']}) | | | |"
    label = r["label"]
    wall = f"{r['wall']:.3f}" if r["wall"] is not None else ""
    cpu = f"{r['cpu']:.2f}" if r["cpu"] is not None else ""
    rss = f"{r['rss']:.1f}" if r["rss"] is not None else ""
    if st == "extrapolated":
        wall, cpu, rss = f"~{r['wall']:.0f}", f"~{r['cpu']:.0f}", ""
    kps = ""
    if r["keys"] and r["wall"]:
        kps = f"{r['keys'] / r['wall']:,.0f}"
    return f"| {label} | {r['users']} | {r['files']} | {wall} | {cpu} | {rss} | {kps} |"


def get(rows, users, scenario, statuses=("ok",)):
    for r in rows:
        if r["users"] == users and r["scenario"] == scenario and r["status"] in statuses:
            return r
    return None


def section(out, title, lines):
    """Appends `title:`, a blank line, `lines` and a blank line to `out`; nothing when
    `lines` is empty."""
    if lines:
        out += [f"{title}:", "", *lines, ""]


def main():
    rows = with_floor_totals(read(sys.argv[1]))
    machine = sys.argv[2] if len(sys.argv) > 2 else ""
    sizes = sorted({r["users"] for r in rows})
    out = ["| scenario | users | files | wall s | cpu s | peak MB | keys/s |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    out += [cell_row(r) for r in rows]
    out.append("")

    lines = []
    for u in sizes:
        plan, floor = get(rows, u, "plan_nochange"), get(rows, u, "floor_total")
        if plan and floor and floor["wall"] > 0:
            lines.append(f"- plan (no changes) / floor, {n(u)} users: {plan['wall']:.3f} s / {floor['wall']:.3f} s"
                         f" = **{plan['wall'] / floor['wall']:.1f}x** (cpu {plan['cpu']:.2f} s / {floor['cpu']:.2f} s"
                         f" = {plan['cpu'] / max(floor['cpu'], 0.005):.1f}x)")
    for u in sizes:
        plan = get(rows, u, "plan_nochange")
        peer = get(rows, u, "ansible_check", ("ok", "extrapolated"))
        sample = get(rows, u, "ansible_sample", ("sample",))
        bullet = "- "
        if plan and peer and plan["wall"] > 0:
            how = "measured over every user" if peer["status"] == "ok" else f"extrapolated: {peer['note']}"
            lines.append(f"- ansible check / plan (no changes), {n(u)} users: {peer['wall']:.1f} s / {plan['wall']:.3f} s"
                         f" = **{peer['wall'] / plan['wall']:,.0f}x** ({how})")
            bullet = "  - "
        if sample and sample["note"]:
            lines.append(f"{bullet}ansible-playbook reported, {n(u)} users: {sample['note']}")
        elif peer and peer["status"] == "ok" and peer["note"]:
            lines.append(f"{bullet}ansible-playbook reported, {n(u)} users: {peer['note']}")
    section(out, "Ratios", lines)

    growth = []
    flagged = []
    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios and r["scenario"] not in ("ansible_sample", "ansible_check"):
            scenarios.append(r["scenario"])
    for s in scenarios:
        pts = [(u, get(rows, u, s)) for u in sizes]
        pts = [(u, r) for u, r in pts if r and r["wall"]]
        if len(pts) < 2:
            continue
        parts = []
        for (u0, r0), (u1, r1) in zip(pts, pts[1:]):
            ratio, size_ratio = r1["wall"] / r0["wall"], u1 / u0
            flag = ratio > GROWTH_SLACK * size_ratio
            txt = f"{n(u0)}→{n(u1)} {ratio:.1f}x"
            if flag:
                txt += f" (**above {GROWTH_SLACK * size_ratio:.0f}x** for {size_ratio:g}x the users)"
                flagged.append((s, u0, u1))
            parts.append(txt)
        growth.append(f"- {pts[0][1]['label']}: " + "; ".join(parts))
    section(out, f"Growth of wall time (flagged when above {GROWTH_SLACK * 10:.0f}x per 10x users; "
                 "sub-10 ms figures are mostly process start-up)", growth)

    # The targets of the performance issue, where this run measured what they need.
    t = []

    def verdict(ok):
        return "met" if ok else "**NOT met**"

    plan10, floor10 = get(rows, 10000, "plan_nochange"), get(rows, 10000, "floor_total")
    if plan10 and floor10:
        t.append(f"- plan, no changes, 10,000 users, within 3x the floor: {plan10['wall'] / floor10['wall']:.1f}x: {verdict(plan10['wall'] <= 3 * floor10['wall'])}")
    if plan10:
        t.append(f"- plan, no changes, 10,000 users, under 1.5 s wall: {plan10['wall']:.3f} s: {verdict(plan10['wall'] < 1.5)}")
        t.append(f"- plan, no changes, 10,000 users, under 200 MB: {plan10['rss']:.1f} MB: {verdict(plan10['rss'] < 200)}")
    big = [u for u in sizes if u >= 100000]
    for u in big:
        prev = [s for s in sizes if s < u]
        if prev:
            p = prev[-1]
            bad = [s for s, u0, u1 in flagged if u1 == u]
            t.append(f"- {n(p)}→{n(u)} users, every step linear (at most {GROWTH_SLACK * u / p:.0f}x the time): "
                     + (verdict(False) + ": " + ", ".join(bad) if bad else verdict(True)))
        heavy = [r for r in rows if r["users"] == u and r["status"] == "ok" and r["scenario"] not in NOT_ACCESSCTL]
        if heavy:
            top = max(heavy, key=lambda r: r["rss"])
            t.append(f"- {n(u)} users, under 2 GB peak memory (largest: {top['label']}, {top['rss']:.0f} MB): {verdict(top['rss'] < 2048)}")
    for u in sizes:
        plan, peer = get(rows, u, "plan_nochange"), get(rows, u, "ansible_check", ("ok", "extrapolated"))
        if plan and peer:
            x = peer["wall"] / plan["wall"]
            t.append(f"- plan, no changes, {n(u)} users, at least 50x faster than the Ansible check: {x:,.0f}x: {verdict(x >= 50)}")
    a10 = get(rows, 10000, "apply_empty")
    if a10 and a10["keys"]:
        k = a10["keys"] / a10["wall"]
        t.append(f"- apply from empty, 10,000 users, at least 1,000 keys/s (no latency): {k:,.0f}/s: {verdict(k >= 1000)}")
    l10 = get(rows, 10000, "apply_empty_latency")
    if l10 and l10["keys"]:
        k = l10["keys"] / l10["wall"]
        t.append(f"- apply from empty, 10,000 users, at least 300 keys/s with 50 ms latency: {k:,.0f}/s: {verdict(k >= 300)}")
    section(out, "Targets", t)

    if machine:
        out.append(machine)
    print("\n".join(out))


if __name__ == "__main__":
    main()
