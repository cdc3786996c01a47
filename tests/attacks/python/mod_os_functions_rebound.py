# attack: rebind the os and marshal functions the driver uses (later cells must still run, not be answered empty)
# expect: ok
# next: 3 * 3 => 9
import os, marshal
os.write = None
os.read = None
marshal.loads = None
