-- attack: signal the kernel process @KERNEL_PID@ (no os.kill exists)
-- expect: error LuaError /field 'kill'/
os.kill(@KERNEL_PID@, 9)
