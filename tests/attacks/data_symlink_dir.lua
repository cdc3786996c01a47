-- attack: follow a directory symlink inside the data dir out to /etc
-- expect: error LuaError /goes through a symbolic link/
return data.read("etc/passwd")
