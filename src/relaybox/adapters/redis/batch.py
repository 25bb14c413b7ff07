"""One batch appended on the server by a script: in order, and a key stops at its first refusal.

A plain pipeline sends every ``XADD`` before any reply comes back, so when
Redis refuses one entry the key's later entries are already written. The
script runs the batch in order inside Redis (one round trip, like a pipeline)
and skips the rest of a key once one of its entries is refused, which is what
the publisher contract asks. Every stream a batch writes is passed as a key
of the script, so a Redis Cluster needs the streams of one batch in one slot
(a hash tag such as ``{orders}.created``).
"""

from __future__ import annotations

from collections.abc import Sequence

from relaybox.adapters.redis.entries import headers_text
from relaybox.core.events import Message

BLOCKED = "~blocked"
"""The reply for an entry skipped because an earlier entry of its key was refused."""

SCRIPT = """
local trim = {}
if ARGV[1] ~= '' then trim = {'MAXLEN', '~', ARGV[1]}
elseif ARGV[2] ~= '' then trim = {'MINID', '~', ARGV[2]} end
local blocked, out = {}, {}
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 7
  local lane = ARGV[a]
  if blocked[lane] then
    out[i] = '~blocked'
  else
    local cmd = {'XADD', KEYS[i]}
    for _, word in ipairs(trim) do cmd[#cmd + 1] = word end
    for _, word in ipairs({'*', 'id', ARGV[a + 1], 'topic', ARGV[a + 2], 'type', ARGV[a + 3],
                           'content_type', ARGV[a + 4], 'headers', ARGV[a + 5],
                           'payload', ARGV[a + 6]}) do cmd[#cmd + 1] = word end
    if string.sub(lane, 1, 2) == 'k:' then
      cmd[#cmd + 1] = 'key'
      cmd[#cmd + 1] = string.sub(lane, 3)
    end
    local reply = redis.pcall(unpack(cmd))
    if type(reply) == 'table' and reply.err then
      out[i] = reply.err
      if lane ~= 'u' then blocked[lane] = true end
    else
      out[i] = ''
    end
  end
end
return out
"""


def script_args(
    messages: Sequence[Message], *, maxlen: int | None, minid: str | None
) -> list[str | bytes]:
    """The script's arguments: trimming, then seven values per message (see ``entries``)."""
    args: list[str | bytes] = ["" if maxlen is None else str(maxlen), minid or ""]
    for m in messages:
        lane = "u" if m.key is None else "k:" + m.key
        args += (lane, m.id, m.topic, m.type, m.content_type, headers_text(m), m.payload)
    return args


def reply_text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)
