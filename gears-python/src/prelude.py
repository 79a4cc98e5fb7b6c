# The Python prelude of gears-rs: it runs once, in the base globals that every session
# copies (RedisGears' GearsBuilder.py plays this part), with __name__ == 'not_main'.
# Every name it leaves behind is visible to every script, so helpers are deleted.
#
# Next to come here: GearsBuilder / GB and its sugar operations (aggregate, count,
# sort, distinct, avg, countby, KeysOnlyReader, ShardsIDReader), the runtime functions
# of the redisgears module under their script names (execute, atomic, log, configGet,
# hashtag, ...), and the asyncio loop helpers.

import redisgears
import redisgears as rg
from redisgears import flatError as flat_error


class _GearsNamespace:
    """The exception classes of RedisGears under the names its docs use:
    gears.error, gears.flat_error and gears.forcestopped."""

    __slots__ = ()
    error = redisgears.GearsError
    flat_error = redisgears.GearsFlatError
    forcestopped = redisgears.GearsForceStopped

    def __repr__(self):
        return '<gears namespace>'


gears = _GearsNamespace()
del _GearsNamespace
