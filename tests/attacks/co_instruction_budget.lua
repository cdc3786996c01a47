-- attack: spend the instruction budget inside a coroutine
-- expect: error InstructionLimitExceeded /instruction limit exceeded/
-- magic: instructions 1000000
coroutine.wrap(function() while true do end end)()
