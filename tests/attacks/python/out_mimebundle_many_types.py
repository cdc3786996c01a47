# attack: a result with 70,000 MIME types (more items than the worker's frame to the kernel may hold)
# expect: ok
class R:
    def _repr_mimebundle_(self, **kw):
        return {f'text/x-{i}': '' for i in range(70000)}
R()
