"""Optimizers (run on the servers for tables, in the library for dense parameters) and tables."""

from ._lib import lib

CONSISTENCY = {"bsp": 0, "asp": 1, "ssp": 2}
INITIALIZERS = {"zeros": 0, "constant": 1, "uniform": 2}
ROW_ENCODINGS = {"float32": 0, "float16": 1, "bfloat16": 2}


class Optimizer:
    kind = 0

    def __init__(self, lr, **settings):
        self.lr = lr
        self.settings = settings

    def c(self):
        o = lib.hs_optimizer_make(self.kind, self.lr)
        for k, v in self.settings.items():
            setattr(o, k, v)
        return o

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, {self.settings})"


class SGD(Optimizer):
    """w -= lr * g."""
    kind = 0

    def __init__(self, lr=0.01):
        super().__init__(lr)


class Adagrad(Optimizer):
    """h += g^2; w -= lr * g / (sqrt(h) + eps)."""
    kind = 1

    def __init__(self, lr=0.01, eps=1e-8, initial_accumulator=0.1):
        super().__init__(lr, epsilon=eps, initial_accumulator=initial_accumulator)


class Adam(Optimizer):
    """Adam with bias correction."""
    kind = 2

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(lr, beta1=betas[0], beta2=betas[1], epsilon=eps)


class Accumulate(Optimizer):
    """w += g (a table that sums what is pushed)."""
    kind = 3

    def __init__(self):
        super().__init__(0.0)


class Table:
    """An embedding table's settings: `dim` floats a row, the servers' optimizer, consistency ("bsp",
    "asp", "ssp" with `staleness`), row initializer ("zeros", "constant", "uniform" with `init_value`)
    and the rows' encoding on the wire ("float32", "float16", "bfloat16")."""

    def __init__(self, name, dim, optimizer=None, consistency="asp", staleness=0, init="zeros", init_value=0.0, encoding="float32"):
        for value, allowed, what in ((consistency, CONSISTENCY, "consistency"), (init, INITIALIZERS, "init"),
                                     (encoding, ROW_ENCODINGS, "encoding")):
            if value not in allowed:
                raise ValueError(f"table {name!r}: {what} must be one of {sorted(allowed)}, not {value!r}")
        self.name, self.dim = name, dim
        self.optimizer = optimizer or SGD(0.01)
        self.consistency, self.staleness, self.init, self.init_value, self.encoding = consistency, staleness, init, init_value, encoding
        self._name = name.encode()

    def c(self):
        t = lib.hs_table_make(self._name, self.dim)
        t.optimizer = self.optimizer.c()
        t.consistency, t.staleness = CONSISTENCY[self.consistency], self.staleness
        t.initializer, t.init_value = INITIALIZERS[self.init], self.init_value
        t.row_encoding = ROW_ENCODINGS[self.encoding]
        return t


def tables_array(tables):
    from ._lib import Table as CTable
    return (CTable * len(tables))(*[t.c() for t in tables])


