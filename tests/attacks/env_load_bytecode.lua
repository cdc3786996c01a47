-- attack: load precompiled bytecode (a crafted chunk can break the VM)
-- expect: error LuaError /binary chunk/
local chunk = "\27LuaT\0\25\147\13\10\26\10\4\8\8xV\0\0\0\0\0\0\0\0\0\0\0(w@"
assert(load(chunk))
