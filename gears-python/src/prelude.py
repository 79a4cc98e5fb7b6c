# The Python prelude of gears-rs: it runs once, in the base globals that every session
# copies (RedisGears' GearsBuilder.py plays this part), with __name__ == 'not_main'.
# Every name it leaves behind is visible to every script, so helpers are deleted.
#
# It defines GearsBuilder / GB on top of the native plan builder
# (redisgears.gearsCtx), the sugar operations RedisGears builds in Python (aggregate,
# aggregateby, count, countby, avg, sort, distinct, KeysOnlyReader, ShardsIDReader),
# and the runtime functions under their script names (execute, atomic, log,
# configGet, hashtag, ...). Still to come: the asyncio helpers.

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


import copy as _copy

execute = redisgears.executeCommand
atomic = redisgears.atomicCtx
hashtag = redisgears.getMyHashTag
isAsyncAllow = redisgears.isAsyncAllow
call_next = redisgears.callNext
get_command = redisgears.getCommand
override_reply = redisgears.overrideReply

_LOG_LEVELS = ('debug', 'verbose', 'notice', 'warning')


def log(*args, **kwargs):
    """log(msg, level='notice'): writes 'GEARS: <msg>' to the Redis log. The old
    form log(level, msg) still works, with a warning."""
    if len(args) == 2 and not kwargs and args[0] in _LOG_LEVELS and args[1] not in _LOG_LEVELS:
        redisgears.log('log(level, msg) is deprecated, use log(msg, level)', 'warning')
        args = (args[1], args[0])
    return redisgears.log(*args, **kwargs)


def configGet(*args):
    """The value of an unknown module argument or RG.CONFIGSET key, or None."""
    return redisgears.config_get(*args)


def gearsConfigGet(key, default=None):
    """configGet(key), or default when it is not set."""
    value = configGet(key)
    return default if value is None else value


def Log(*args, **kwargs):
    redisgears.log('Log is deprecated, use log', 'warning')
    return log(*args, **kwargs)


def ConfigGet(*args):
    redisgears.log('ConfigGet is deprecated, use configGet', 'warning')
    return configGet(*args)


def GearsConfigGet(*args, **kwargs):
    redisgears.log('GearsConfigGet is deprecated, use gearsConfigGet', 'warning')
    return gearsConfigGet(*args, **kwargs)


def shardReaderCallback():
    """The reader of ShardsIDReader: this shard's id, or '1' outside a cluster."""
    try:
        info = execute('RG.INFOCLUSTER')
    except gears.error:
        info = 'no cluster mode'
    yield '1' if info == 'no cluster mode' else info[1]


def _keysOnlyReader(pattern='*', count=1000, noScan=False, patternGenerator=None, **ignored):
    """The reader of KeysOnlyReader: the names of the keys matching pattern. The
    common case is read natively; a patternGenerator or unusual arguments take the
    Python generator, which behaves the same (errors included)."""
    if (patternGenerator is None and type(pattern) is str and type(count) is int
            and count > 0 and type(noScan) is bool):
        return redisgears.keysOnlyReader(pattern, count, noScan)

    def keys():
        match, exact = pattern, noScan
        if patternGenerator is not None:
            match, exact = patternGenerator()
        if exact:
            if execute('exists', match) == 1:
                yield match
            return
        cursor = '0'
        while True:
            cursor, names = execute('scan', cursor, 'MATCH', match, 'COUNT', str(count))
            for name in names:
                yield name
            if cursor == '0':
                return
    return keys


def _builderOperation(name):
    """A GearsBuilder method that appends the native operation `name` and returns
    the builder, for chaining. (Its frame shows as `deco` in tracebacks, as in
    RedisGears.)"""
    def deco(self, *args):
        getattr(self.gearsCtx, name)(*args)
        return self
    deco.__name__ = name
    return deco


class GearsBuilder(object):
    """GearsBuilder(reader='KeysReader', defaultArg='*', desc=None): a plan of
    operations over the records of a reader, run with run()."""

    map = _builderOperation('map')
    filter = _builderOperation('filter')
    foreach = _builderOperation('foreach')
    flatmap = _builderOperation('flatmap')
    accumulate = _builderOperation('accumulate')
    localgroupby = _builderOperation('localgroupby')
    limit = _builderOperation('limit')
    collect = _builderOperation('collect')
    repartition = _builderOperation('repartition')
    groupby = _builderOperation('groupby')
    batchgroupby = _builderOperation('batchgroupby')

    def __init__(self, reader='KeysReader', defaultArg='*', desc=None):
        self.realReader = reader
        self.defaultArg = defaultArg
        if reader in ('KeysOnlyReader', 'ShardsIDReader'):
            reader = 'PythonReader'
        self.reader = reader
        self.gearsCtx = redisgears.gearsCtx(reader, desc)

    def aggregate(self, zero, seqOp, combOp):
        # Local accumulate, collect, global accumulate; a falsy accumulator starts
        # again from a deep copy of zero (done natively, one Python call a record).
        self.gearsCtx.aggregate(zero, seqOp, combOp)
        return self

    def __localAggregateby__(self, extractor, zero, seqOp):
        return self.localgroupby(extractor, lambda k, a, r: seqOp(k, a if a else _copy.deepcopy(zero), r))

    def aggregateby(self, extractor, zero, seqOp, combOp):
        self.__localAggregateby__(extractor, zero, seqOp)
        return self.groupby(lambda r: r['key'],
                            lambda k, a, r: combOp(k, a if a else _copy.deepcopy(zero), r['value']))

    def count(self):
        self.gearsCtx.count()
        return self

    def countby(self, extractor=None):
        # aggregateby(extractor, 0, +1, +), counted natively.
        self.gearsCtx.countby(extractor)
        return self

    def avg(self, extractor=lambda x: float(x)):
        self.map(extractor)
        self.aggregate((0, 0),
                       lambda a, r: (a[0] + r, a[1] + 1),
                       lambda a, r: (a[0] + r[0], a[1] + r[1]))
        return self.map(lambda x: x[0] / x[1])

    def sort(self, reverse=True):
        # flatmap emits a list last element first, so the default reverse=True
        # gives ascending output, as in RedisGears.
        self.aggregate([], lambda a, r: a + [r], lambda a, r: a + r)
        self.map(lambda l: sorted(l, reverse=reverse))
        return self.flatmap(lambda l: l)

    def distinct(self):
        def add(a, r):
            a.add(r)
            return a
        self.aggregate(set(), add, lambda a, r: a | r)
        return self.flatmap(lambda s: list(s))

    def run(self, arg=None, convertToStr=True, collect=True, **kwargs):
        if self.realReader == 'ShardsIDReader':
            arg = shardReaderCallback
        elif self.realReader == 'KeysOnlyReader':
            arg = _keysOnlyReader(arg or self.defaultArg, **kwargs)
        if convertToStr:
            self.gearsCtx.tostr(lambda x: str(x))
        if collect:
            self.gearsCtx.collect()
        return self.gearsCtx.run(arg or self.defaultArg, **kwargs)

    def register(self, prefix='*', convertToStr=True, collect=True, **kwargs):
        """Registers the plan to run on events; returns the registration id."""
        if convertToStr:
            self.gearsCtx.tostr(lambda x: str(x))
        if collect:
            self.gearsCtx.collect()
        kwargs['prefix'] = prefix
        if 'regex' in kwargs:
            log('Using regex argument with register is deprecated and missleading, use prefix instead.', level='warning')
            kwargs['prefix'] = kwargs['regex']
        return self.gearsCtx.register(**kwargs)


GB = GearsBuilder
