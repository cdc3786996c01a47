# attack: modify the guest's stdlib (a write lands in the guest's own memory copy, never on the host)
# expect: ok
import os
open(os.__file__, 'a').write('x')
