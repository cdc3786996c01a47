-- attack: follow a symlink inside the data dir that points at a host file
-- expect: error LuaError /goes through a symbolic link/
return data.read("escape")
