"""The Lua scripts of the online store and the argument layouts they expect.

Both scripts take many keys at once so a batch is one command, not one per key. On Redis Cluster
every key of one call must live in one slot; callers split by slot (:func:`split_by_slot`).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.crc import key_slot

__all__ = ["READ_LUA", "WRITE_LUA", "read_args", "split_by_slot"]

# KEYS: one per row. ARGV: ttl_ms, nfeatures, feature names..., then one blob per row:
# ``ft_ms \0 ct_ms \0 value_1 \0 ... value_n`` (JSON values never hold a raw NUL byte). One argument
# per row instead of 2n+4 keeps the arguments the server must turn into Lua strings few.
# The write rule (online.store's docstring): a row is applied when the key holds no row, or a row
# with an older feature_time, or one with the same feature_time and a created_at no newer than the
# row's (ties of both overwrite: a replay is idempotent). Expiry restarts at each applied write.
# The HSET argument table is built once per call and only its values change per row; _ct is read
# only on a feature_time tie.
WRITE_LUA = """
local ttl = tonumber(ARGV[1])
local nf = tonumber(ARGV[2])
local args = {'_ft', '', '_ct', ''}
for j = 1, nf do args[2 * j + 3] = ARGV[2 + j] end
local base = nf + 2
local written = 0
local find, sub, call, num = string.find, string.sub, redis.call, tonumber
for i = 1, #KEYS do
  local key = KEYS[i]
  local blob = ARGV[base + i]
  local e = find(blob, '\\0', 1, true)
  local ft = sub(blob, 1, e - 1)
  local s = e + 1
  e = find(blob, '\\0', s, true)
  local ct = sub(blob, s, e - 1)
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
  end
  if apply then
    args[2] = ft
    args[4] = ct
    s = e + 1
    for j = 1, nf do
      e = find(blob, '\\0', s, true) or 0
      args[2 * j + 4] = sub(blob, s, e - 1)
      s = e + 1
    end
    call('HSET', key, unpack(args))
    if ttl > 0 then call('PEXPIRE', key, ttl) end
    written = written + 1
  end
end
return written
"""

# KEYS: grouped by field list. ARGV: ngroups, then per group: nkeys, nfields, fields...
# Returns one HMGET reply (a list with nil for missing) per key, in KEYS order.
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


def split_by_slot(keys: Sequence[str]) -> dict[int, list[int]]:
    """Positions of ``keys`` grouped by Redis Cluster slot (for cluster clients only)."""
    out: dict[int, list[int]] = {}
    for i, k in enumerate(keys):
        out.setdefault(key_slot(k.encode()), []).append(i)
    return out
