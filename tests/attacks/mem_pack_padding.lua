-- attack: string.pack with a 2 GB fixed-size field
-- expect: error MemoryError /memory limit exceeded/
-- magic: memory 64M
return #string.pack("c2000000000", "")
