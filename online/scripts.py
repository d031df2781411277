"""The Lua scripts of the online store and the argument layouts they expect.

Each script takes many keys at once so a batch is one command, not one per key. On Redis Cluster
every key of one call must live in one slot; callers split by slot (:func:`split_by_slot`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from redis.crc import key_slot

from featurestream.online.keys import RowReply

__all__ = ["FILL_LUA", "READ_ROWS_LUA", "WRITE_LUA", "absent_write", "rows_per_slot", "split_by_slot"]

# KEYS: one per row. ARGV: ttl_ms, then one compact row per key (online.keys.encode_row:
# ``[ft,ct,value_1,...,value_n]``; ft and ct are integers, so the first two commas end them).
# The write rule (online.store's docstring): a row is applied when the key holds no row, or a row
# with an older feature_time, or one with the same feature_time and a created_at no newer than the
# row's (or none); ties of both overwrite, so a replay is idempotent. An applied write is one SET
# with the ttl (expiry restarts); a skipped one changes nothing. created_at is parsed only on a
# feature_time tie. A key still holding a hash in the per-feature layout (WRONGTYPE) is judged by
# its _ft and _ct fields and replaced by the compact row (SET replaces any type). A string that is
# not a row is refused with an error, before anything of it is overwritten; any other error of the
# probe (OOM ...) is answered as it is.
#
# One rule, two probes of the key's current row (the rest of the script is the same text):
# WRITE_LUA probes with GET, the cheapest when most keys exist (the streaming sink rewrites the same
# entities); FILL_LUA probes with ``SET key row NX GET``, which writes a key that holds nothing in
# that one call and answers the current row of one that exists without changing it (Redis >= 7.0):
# a bulk load into an empty or partial store costs one command per new row instead of a GET and a
# SET, and a rewrite pays a failed SET NX instead of a GET. Cheaper still for new keys, with no
# script at all: :func:`absent_write` (the rule's first clause as a plain ``SET ... NX``), whose
# rows that find their key held go through WRITE_LUA; ``materialize`` loads that way by default
# (``online.store``'s ``fill_probe``).
_WRITE_TEMPLATE = """
local ttl = ARGV[1]
local forever = tonumber(ttl) <= 0
local written = 0
local find, sub, call, pcall, num = string.find, string.sub, redis.call, redis.pcall, tonumber
for i = 1, #KEYS do
  local key = KEYS[i]
  local row = ARGV[1 + i]
  local cur
  @PROBE@
  local apply = false
  if not cur then
    @ABSENT@
  else
    local cft, cct, ce
    if type(cur) == 'table' then
      if not find(cur.err or '', 'WRONGTYPE', 1, true) then return cur end
      local f = call('HMGET', key, '_ft', '_ct')
      cft, cct = num(f[1]) or -1, num(f[2])
    else
      ce = find(cur, ',', 2, true)
      cft = ce and num(sub(cur, 2, ce - 1))
      if not cft then
        return redis.error_reply('WRONGTYPE ' .. key .. ' holds a string that is not a featurestream row')
      end
    end
    local e = find(row, ',', 2, true)
    local ft = num(sub(row, 2, e - 1))
    if cft < ft then
      apply = true
    elseif cft == ft then
      if ce then cct = num(sub(cur, ce + 1, (find(cur, ',', ce + 1, true) or 0) - 1)) end
      apply = (not cct) or cct <= num(sub(row, e + 1, find(row, ',', e + 1, true) - 1))
    end
  end
  if apply then
    if forever then call('SET', key, row) else call('SET', key, row, 'PX', ttl) end
    written = written + 1
  end
end
return written
"""
WRITE_LUA = _WRITE_TEMPLATE.replace("@PROBE@", "cur = pcall('GET', key)").replace("@ABSENT@", "apply = true")
FILL_LUA = _WRITE_TEMPLATE.replace(
    "@PROBE@",
    "if forever then cur = pcall('SET', key, row, 'NX', 'GET')\n"
    "  else cur = pcall('SET', key, row, 'NX', 'GET', 'PX', ttl) end",
).replace("@ABSENT@", "written = written + 1")


def absent_write(ttl_ms: int) -> tuple[bytes, ...]:
    """The rule's first clause as one plain command, no script: ``SET key row`` followed by these
    words writes ``row`` (with the ttl, as an applied write of the scripts: none when ``ttl_ms <= 0``)
    only when the key holds nothing, atomically, and answers ``OK``; it answers nil, changing nothing,
    when the key holds anything (a row, a per-feature hash, any value), and that row must then go
    through :data:`WRITE_LUA` for the rest of the rule. So a row written by it is a row the scripts
    would have applied (a key holding nothing has nothing to compare against), whatever other writers
    do: the bulk load's cheapest probe (``online.store``'s ``fill_probe="set-nx"``), one command of
    about a bare ``SET``'s cost per new row instead of a script call (works on any Redis >= 2.6.12)."""
    return (b"NX",) if ttl_ms <= 0 else (b"NX", b"PX", b"%d" % ttl_ms)


# KEYS: the keys of a lookup, any views. No ARGV. Per key, in KEYS order: the compact row; for a key
# still holding a hash in the per-feature layout (GET answers WRONGTYPE) every field and value
# (HGETALL, flat), which online.keys.row_text orders by the view's features; nil for no key.
READ_ROWS_LUA = """
local out = {}
local call, pcall = redis.call, redis.pcall
for k = 1, #KEYS do
  local v = pcall('GET', KEYS[k])
  if type(v) == 'table' then v = call('HGETALL', KEYS[k]) end
  out[k] = v
end
return out
"""


Scatter = Callable[[Sequence[Sequence[RowReply]]], list[RowReply]]


def rows_per_slot(keys: Sequence[str]) -> tuple[list[list[str]], Scatter]:
    """Redis Cluster: a script may not span slots, so a row read is one :data:`READ_ROWS_LUA` call per
    slot (every view of one entity shares a slot: a 1-entity lookup is one call). Returns the keys of
    each call, and the function that puts the calls' replies back in ``keys`` order."""
    groups = list(split_by_slot(keys).values())

    def scatter(replies: Sequence[Sequence[RowReply]]) -> list[RowReply]:
        rows: list[RowReply] = [None] * len(keys)
        for pos, reply in zip(groups, replies, strict=True):
            for i, row in zip(pos, reply, strict=True):
                rows[i] = row
        return rows

    return [[keys[i] for i in pos] for pos in groups], scatter


def split_by_slot(keys: Sequence[str]) -> dict[int, list[int]]:
    """Positions of ``keys`` grouped by Redis Cluster slot (for cluster clients only)."""
    out: dict[int, list[int]] = {}
    for i, k in enumerate(keys):
        out.setdefault(key_slot(k.encode()), []).append(i)
    return out
