-- attack: print of a table, a C function, a thread and a named object shows real addresses
-- expect: ok
-- stdout: /^table: 0x[0-9a-f]{8}\tfunction: 0x[0-9a-f]{8}\tthread: 0x[0-9a-f]{8}\tObj: 0x[0-9a-f]{8}\n$/
print({}, print, coroutine.running(), setmetatable({}, { __name = "Obj" }))
