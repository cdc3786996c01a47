-- attack: a harmless %timeout first, the real one repeated after it
-- expect: error UsageError /at most 600 s/
-- magic: timeout 1
-- magic: timeout 1
-- magic: timeout 3600
while true do end
