-- attack: get the shared string metatable to booby-trap the host's string methods
-- expect: value "the string metatable is protected in the sandbox"
return getmetatable("")
