"""The Lua scripts of the online store and the argument layouts they expect.

Each script takes many keys at once so a batch is one command, not one per key. On Redis Cluster
every key of one call must live in one slot; callers split by slot (:func:`split_by_slot`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from redis.crc import key_slot

from featurestream.online.keys import RowReply

__all__ = ["READ_LUA", "READ_ROWS_LUA", "WRITE_LUA", "read_args", "rows_per_slot", "split_by_slot"]

# KEYS: one per row. ARGV: ttl_ms, then one compact row per key: the ``_v`` value
# ``[ft,ct,value_1,...,value_n]`` (online.keys.encode_row); ft and ct are read from its first two
# items (integers: the first two commas end them). One argument per row, and three hash fields per
# row whatever the number of features: the per-field cost of a hash is what a bulk load pays.
# The write rule (online.store's docstring): a row is applied when the key holds no row, or a row
# with an older feature_time, or one with the same feature_time and a created_at no newer than the
# row's (ties of both overwrite: a replay is idempotent). Expiry restarts at each applied write.
# _ct is read only on a feature_time tie. A hash still in the per-feature layout (no _v) is deleted
# before the write, so the compact row replaces it whole.
WRITE_LUA = """
local ttl = tonumber(ARGV[1])
local written = 0
local find, sub, call, num = string.find, string.sub, redis.call, tonumber
for i = 1, #KEYS do
  local key = KEYS[i]
  local row = ARGV[1 + i]
  local e = find(row, ',', 2, true)
  local ft = sub(row, 2, e - 1)
  local s = e + 1
  e = find(row, ',', s, true)
  local ct = sub(row, s, e - 1)
  local cur = call('HGET', key, '_ft')
  local apply = not cur
  if not apply then
    local a, b = num(cur), num(ft)
    if a < b then
      apply = true
    elseif a == b then
      local cct = call('HGET', key, '_ct')
      apply = (not cct) or num(cct) <= num(ct)
    end
    if apply and call('HEXISTS', key, '_v') == 0 then call('DEL', key) end
  end
  if apply then
    call('HSET', key, '_ft', ft, '_ct', ct, '_v', row)
    if ttl > 0 then call('PEXPIRE', key, ttl) end
    written = written + 1
  end
end
return written
"""

# KEYS: the keys of a lookup, any views. No ARGV. Per key, in KEYS order: the compact row (the
# ``_v`` bytes) when the key has one; for a hash in the per-feature layout every field and value
# (HGETALL, flat), which online.keys.row_text orders by the view's features; nil for no key.
READ_ROWS_LUA = """
local out = {}
local call = redis.call
for k = 1, #KEYS do
  local v = call('HGET', KEYS[k], '_v')
  if v then
    out[k] = v
  else
    local all = call('HGETALL', KEYS[k])
    if #all > 0 then out[k] = all else out[k] = false end
  end
end
return out
"""

# Fields by name (e.g. ``_ft`` alone, for scans), not rows. KEYS: grouped by field list. ARGV:
# ngroups, then per group: nkeys, nfields, fields... Returns one HMGET reply (a list with nil for
# missing) per key, in KEYS order.
READ_LUA = """
local out = {}
local k = 1
local a = 2
for g = 1, tonumber(ARGV[1]) do
  local nk = tonumber(ARGV[a])
  local nf = tonumber(ARGV[a + 1])
  local s = a + 2
  local e = a + 1 + nf
  for _ = 1, nk do
    out[k] = redis.call('HMGET', KEYS[k], unpack(ARGV, s, e))
    k = k + 1
  end
  a = e + 1
end
return out
"""


def read_args(groups: Sequence[tuple[Sequence[str], Sequence[str]]]) -> tuple[list[str], list[str | int]]:
    """``[(keys, fields), ...]`` -> (KEYS, ARGV) for :data:`READ_LUA`."""
    keys: list[str] = []
    argv: list[str | int] = [len(groups)]
    for gkeys, fields in groups:
        keys.extend(gkeys)
        argv.append(len(gkeys))
        argv.append(len(fields))
        argv.extend(fields)
    return keys, argv


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
