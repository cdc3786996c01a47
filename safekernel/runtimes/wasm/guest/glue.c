/* The wasm guest's glue: one Lua 5.4 state kept across cells (a WASI reactor), the `host`
 * table that sandbox.lua and display.lua call (as lupa's Python callbacks are in the lua
 * runtime), and the exports the host (safekernel/runtimes/wasm/runtime.py) drives.
 *
 * Everything that leaves the guest goes through one imported function, safekernel.host(op,
 * ptr, len), which returns the length of a reply (or -1); safekernel.reply(ptr, len) copies
 * that reply into guest memory. The host checks every pointer and length against memory.
 *
 * The asynchronous stop mirrors runtimes/lua/stopswitch.py: no hook runs while a cell runs
 * normally; to stop it, the host's epoch-deadline callback calls sk_interrupt(), which sets a
 * count-1 hook (ldblib's hookf, which calls sandbox.lua's on_hook) on every Lua thread that is
 * being resumed, and the hook keeps firing until the cell is over. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lauxlib.h"
#include "lua/lua.h"
#include "lua/lualib.h"

#define IMPORT(name) __attribute__((import_module("safekernel"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("host") int32_t sk_host(int32_t op, const char *ptr, int32_t len);
IMPORT("reply") void sk_reply(char *ptr, int32_t len);

enum { OP_STDOUT = 1, OP_STDERR, OP_REQUEST_STOP, OP_DISPLAY, OP_CLEAR, OP_INPUT, OP_DATA_LIST,
       OP_DATA_READ };
enum { CALL_OK = 0, CALL_ERROR = 1, CALL_MEMORY = 2, CALL_STOPPED = 3 };

static lua_State *L;
static int api_ref = LUA_NOREF, repl_ref = LUA_NOREF, sources_ref = LUA_NOREF;

/* ---- memory: Lua's allocations are counted and capped, like lupa's max_memory ---------- */
static size_t used, peak, limit;

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (ptr == NULL) osize = 0;
  if (nsize == 0) {
    free(ptr);
    used -= osize;
    return NULL;
  }
  if (limit && nsize > osize && used + (nsize - osize) > limit) return NULL;
  void *block = realloc(ptr, nsize);
  if (block == NULL) return NULL;
  used = used - osize + nsize;
  if (used > peak) peak = used;
  return block;
}

EXPORT("sk_set_limit") void sk_set_limit(int64_t bytes) { limit = bytes > 0 ? (size_t)bytes : 0; }
EXPORT("sk_used") int64_t sk_used(void) { return (int64_t)used; }
EXPORT("sk_peak") int64_t sk_peak(void) { return (int64_t)peak; }
EXPORT("sk_peak_reset") void sk_peak_reset(void) { peak = used; }
EXPORT("sk_gc") void sk_gc(void) { lua_gc(L, LUA_GCCOLLECT); }

/* ---- buffers the host reads and writes ------------------------------------------------- */
EXPORT("sk_alloc") void *sk_alloc(int32_t size) { return malloc(size > 0 ? (size_t)size : 1); }
EXPORT("sk_free") void sk_free(void *p) { free(p); }

static char *out;
static size_t out_len, out_cap;
EXPORT("sk_out_ptr") char *sk_out_ptr(void) { return out; }
EXPORT("sk_out_len") int32_t sk_out_len(void) { return (int32_t)out_len; }

static int out_put(const void *data, size_t n) {
  if (out_len + n > out_cap) {
    size_t cap = out_cap ? out_cap : 4096;
    while (cap < out_len + n) cap *= 2;
    char *grown = realloc(out, cap);
    if (grown == NULL) return 0;
    out = grown;
    out_cap = cap;
  }
  memcpy(out + out_len, data, n);
  out_len += n;
  return 1;
}

static int out_u32(uint32_t v) { return out_put(&v, 4); }
static int out_str(const char *s, size_t n) { return out_u32((uint32_t)n) && out_put(s, n); }

/* A bundle (or any table) as its string -> string pairs: u32 count, then (key, value) each as
 * u32 length + bytes. Other pairs are skipped, as the lua runtime's _bundle() does. */
static int out_pairs(int index) {
  uint32_t count = 0;
  size_t at = out_len;
  if (!out_u32(0)) return 0;
  lua_pushnil(L);
  while (lua_next(L, index)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
      size_t kn, vn;
      const char *k = lua_tolstring(L, -2, &kn), *v = lua_tolstring(L, -1, &vn);
      if (!out_str(k, kn) || !out_str(v, vn)) {
        lua_pop(L, 2);
        return 0;
      }
      count++;
    }
    lua_pop(L, 1);
  }
  memcpy(out + at, &count, 4);
  return 1;
}

/* One value, tagged: 0 nil, 1 string, 2 integer, 3 boolean, 4 table of string pairs. */
static int out_value(int index) {
  char tag;
  switch (lua_type(L, index)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, index, &n);
      tag = 1;
      return out_put(&tag, 1) && out_str(s, n);
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) {
        int64_t v = lua_tointeger(L, index);
        tag = 2;
        return out_put(&tag, 1) && out_put(&v, 8);
      }
      break;
    case LUA_TBOOLEAN: {
      char b = (char)lua_toboolean(L, index);
      tag = 3;
      return out_put(&tag, 1) && out_put(&b, 1);
    }
    case LUA_TTABLE:
      tag = 4;
      return out_put(&tag, 1) && out_pairs(lua_absindex(L, index));
  }
  tag = 0;
  return out_put(&tag, 1);
}

/* ---- the asynchronous stop (see the file's comment) ------------------------------------- */
#define MAX_THREADS 512
static lua_State *threads[MAX_THREADS];
static int nthreads, stopping, hook_count;
static lua_Hook hookf;

static void apply_hook(lua_State *t) {
  if (stopping)
    lua_sethook(t, hookf, LUA_MASKCOUNT, 1);
  else if (hook_count)
    lua_sethook(t, hookf, LUA_MASKCOUNT, hook_count);
  else
    lua_sethook(t, NULL, 0, 0);
}

/* Called by the host's epoch-deadline callback, inside a running guest call: like lua.c's
 * SIGINT handler, it only sets hooks, which is what makes it safe at any instruction. */
EXPORT("sk_interrupt") void sk_interrupt(void) {
  stopping = 1;
  lua_sethook(L, hookf, LUA_MASKCOUNT, 1);
  for (int i = 0; i < nthreads; i++) lua_sethook(threads[i], hookf, LUA_MASKCOUNT, 1);
}

static int h_stop_reason(lua_State *l) {
  lua_pushboolean(l, stopping);
  return 1;
}

static int h_request_stop(lua_State *l) {
  size_t n;
  const char *reason = luaL_checklstring(l, 1, &n);
  sk_host(OP_REQUEST_STOP, reason, (int32_t)n);
  sk_interrupt();
  return 0;
}

static int h_enter(lua_State *l) {
  lua_State *t = (lua_State *)(uintptr_t)strtoul(luaL_checkstring(l, 1), NULL, 16);
  if (nthreads >= MAX_THREADS) return luaL_error(l, "coroutines nested too deeply");
  threads[nthreads++] = t;
  apply_hook(t);
  return 0;
}

static int h_leave(lua_State *l) {
  (void)l;
  if (nthreads > 0) nthreads--;
  return 0;
}

/* ---- the rest of the host table ------------------------------------------------------- */
/* The host's reply to the last call, as a Lua string (counted by the allocator like any). */
static int push_reply(lua_State *l, int32_t n) {
  luaL_Buffer b;
  char *p = luaL_buffinitsize(l, &b, (size_t)n);
  sk_reply(p, n);
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

/* {ok, payload}: the reply's first byte says whether the call succeeded. */
static int push_ok_reply(lua_State *l, int32_t n) {
  size_t len;
  if (n < 1) return luaL_error(l, "the host gave no reply");
  push_reply(l, n);
  const char *s = lua_tolstring(l, -1, &len);
  lua_createtable(l, 2, 0);
  lua_pushboolean(l, s[0] == 1);
  lua_rawseti(l, -2, 1);
  lua_pushlstring(l, s + 1, len - 1);
  lua_rawseti(l, -2, 2);
  return 1;
}

static int h_write(lua_State *l) {
  size_t n;
  const char *name = luaL_checkstring(l, 1);
  const char *data = luaL_checklstring(l, 2, &n);
  sk_host(strcmp(name, "stderr") == 0 ? OP_STDERR : OP_STDOUT, data, (int32_t)n);
  return 0;
}

/* request payload: a byte (1: the argument is there) + the argument */
static int call_with_name(lua_State *l, int op) {
  size_t n = 0;
  const char *name = lua_isnoneornil(l, 1) ? NULL : luaL_checklstring(l, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(l, &b);
  luaL_addchar(&b, name ? 1 : 0);
  if (name) luaL_addlstring(&b, name, n);
  luaL_pushresult(&b);
  size_t len;
  const char *payload = lua_tolstring(l, -1, &len);
  return push_ok_reply(l, sk_host(op, payload, (int32_t)len));
}

static int h_data_read(lua_State *l) { return call_with_name(l, OP_DATA_READ); }

/* data_list's reply: names separated by NUL bytes */
static int h_data_list(lua_State *l) {
  call_with_name(l, OP_DATA_LIST);
  lua_rawgeti(l, -1, 1);
  int ok = lua_toboolean(l, -1);
  lua_pop(l, 1);
  if (!ok) return 1;
  lua_rawgeti(l, -1, 2);
  size_t len;
  const char *s = lua_tolstring(l, -1, &len);
  lua_newtable(l);
  lua_Integer i = 1;
  for (size_t start = 0; start < len;) {
    const char *end = memchr(s + start, 0, len - start);
    size_t piece = end ? (size_t)(end - (s + start)) : len - start;
    lua_pushlstring(l, s + start, piece);
    lua_rawseti(l, -2, i++);
    start += piece + 1;
  }
  lua_rawseti(l, -3, 2);
  lua_pop(l, 1);
  return 1;
}

static int h_input(lua_State *l) {
  size_t n;
  const char *prompt = luaL_checklstring(l, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(l, &b);
  luaL_addchar(&b, lua_toboolean(l, 2) ? 1 : 0);
  luaL_addlstring(&b, prompt, n);
  luaL_pushresult(&b);
  size_t len;
  const char *payload = lua_tolstring(l, -1, &len);
  return push_ok_reply(l, sk_host(OP_INPUT, payload, (int32_t)len));
}

static int h_clear_output(lua_State *l) {
  char wait = (char)lua_toboolean(l, 1);
  sk_host(OP_CLEAR, &wait, 1);
  return 0;
}

/* display(bundle, id, update, width, height): payload i32 update, width, height (-1: none),
 * id (u32 length + bytes, length 0xFFFFFFFF: none), then the bundle's pairs */
static int h_display(lua_State *l) {
  luaL_checktype(l, 1, LUA_TTABLE);
  int32_t head[3] = {lua_toboolean(l, 3), -1, -1};
  if (lua_isinteger(l, 4)) head[1] = (int32_t)lua_tointeger(l, 4);
  if (lua_isinteger(l, 5)) head[2] = (int32_t)lua_tointeger(l, 5);
  out_len = 0;
  int ok = out_put(head, sizeof head);
  if (lua_type(l, 2) == LUA_TSTRING) {
    size_t n;
    const char *id = lua_tolstring(l, 2, &n);
    ok = ok && out_str(id, n);
  } else {
    ok = ok && out_u32(0xFFFFFFFFu);
  }
  ok = ok && out_pairs(1);
  if (!ok) return luaL_error(l, "not enough memory");
  sk_host(OP_DISPLAY, out, (int32_t)out_len);
  return 0;
}

static const luaL_Reg host_functions[] = {
    {"write", h_write},           {"stop_reason", h_stop_reason},
    {"request_stop", h_request_stop}, {"enter", h_enter},
    {"leave", h_leave},           {"data_list", h_data_list},
    {"data_read", h_data_read},   {"display", h_display},
    {"clear_output", h_clear_output}, {"input", h_input},
    {NULL, NULL}};

/* ---- setup ------------------------------------------------------------------------------ */
static const luaL_Reg libraries[] = {
    {LUA_GNAME, luaopen_base},          {LUA_COLIBNAME, luaopen_coroutine},
    {LUA_TABLIBNAME, luaopen_table},    {LUA_STRLIBNAME, luaopen_string},
    {LUA_MATHLIBNAME, luaopen_math},    {LUA_UTF8LIBNAME, luaopen_utf8},
    {LUA_OSLIBNAME, luaopen_os},        {LUA_DBLIBNAME, luaopen_debug},
    {NULL, NULL}};

static int error_out(void) {
  size_t n;
  const char *message = lua_tolstring(L, -1, &n);
  out_len = 0;
  if (message == NULL) message = "(error object is not a string)", n = strlen(message);
  out_put(message, n);
  lua_pop(L, 1);
  return CALL_ERROR;
}

EXPORT("sk_init") int32_t sk_init(void) {
  L = lua_newstate(l_alloc, NULL);
  if (L == NULL) return CALL_MEMORY;
  for (const luaL_Reg *lib = libraries; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  /* ldblib's C hook (hookf), read back after installing any Lua hook, as the lua runtime does */
  if (luaL_dostring(L, "debug.sethook(function() end, 'c')") != LUA_OK) return error_out();
  hookf = lua_gethook(L);
  lua_newtable(L);
  sources_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return CALL_OK;
}

/* sources[name] = text: the runtime's Lua chunks, handed over before boot */
EXPORT("sk_source") void sk_source(const char *name, int32_t name_len, const char *text,
                                   int32_t text_len) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, sources_ref);
  lua_pushlstring(L, name, (size_t)name_len);
  lua_pushlstring(L, text, (size_t)text_len);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* boot(sources, host, caps_chunk) -> api, repl (see boot.lua) */
EXPORT("sk_boot") int32_t sk_boot(const char *caps, int32_t caps_len) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, sources_ref);
  lua_getfield(L, -1, "boot");
  size_t n;
  const char *boot = lua_tolstring(L, -1, &n);
  if (boot == NULL) {
    lua_pushliteral(L, "no boot chunk");
    return error_out();
  }
  if (luaL_loadbufferx(L, boot, n, "@safekernel/boot.lua", "t") != LUA_OK) return error_out();
  lua_remove(L, -2);
  lua_pushvalue(L, -2);
  luaL_newlib(L, host_functions);
  lua_pushlstring(L, caps, (size_t)caps_len);
  if (lua_pcall(L, 3, 2, 0) != LUA_OK) return error_out();
  repl_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  api_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return CALL_OK;
}

/* Before a request: the stop is armed (cleared), and the instruction budget set through
 * sandbox.lua's api.set_budget, exactly as the lua runtime does. */
EXPORT("sk_arm") int32_t sk_arm(int32_t count, int64_t instructions, int64_t step) {
  stopping = 0;
  nthreads = 0;
  hook_count = count;
  lua_rawgeti(L, LUA_REGISTRYINDEX, api_ref);
  lua_getfield(L, -1, "set_budget");
  lua_remove(L, -2);
  lua_pushinteger(L, instructions);
  lua_pushinteger(L, step);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) return error_out();
  return CALL_OK;
}

EXPORT("sk_disarm") void sk_disarm(void) {
  stopping = 0;
  nthreads = 0;
  lua_sethook(L, NULL, 0, 0);
}

/* After a request: sandbox.lua's api.end_cell, as the lua runtime calls it after each cell (it
 * lets go of the cell's threads and returns the instructions its budget counted). -1 if that
 * failed: the host then reports no count rather than a made-up 0. */
EXPORT("sk_instructions_used") int64_t sk_instructions_used(void) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, api_ref);
  lua_getfield(L, -1, "end_cell");
  lua_remove(L, -2);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return -1;
  }
  int isnum = 0;
  int64_t v = lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  return isnum ? v : -1;
}

EXPORT("sk_randomseed") void sk_randomseed(int64_t high, int64_t low) {
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_remove(L, -2);
  lua_pushinteger(L, high);
  lua_pushinteger(L, low);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
}

static const char *const repl_functions[] = {"run", "complete", "inspect", "is_complete"};

/* repl.<which>(arguments...): the arguments are strings, each a u32 length + its bytes; the
 * results go to the out buffer, tagged (out_value). A stop (sandbox.lua's STOP) and a memory
 * error are told apart from other errors. */
EXPORT("sk_call") int32_t sk_call(int32_t which, const char *args, int32_t len) {
  if (which < 0 || which > 3 || len < 0) return CALL_ERROR;
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) return CALL_MEMORY;
  lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
  lua_getfield(L, -1, repl_functions[which]);
  lua_remove(L, -2);
  int nargs = 0;
  for (size_t at = 0; at + 4 <= (size_t)len && nargs < 4; nargs++) {
    uint32_t n;
    memcpy(&n, args + at, 4);
    if (n > (size_t)len - at - 4) break;
    lua_pushlstring(L, args + at + 4, n);
    at += 4 + n;
  }
  int status = lua_pcall(L, nargs, LUA_MULTRET, 0);
  out_len = 0;
  if (status == LUA_ERRMEM) {
    lua_settop(L, top);
    return CALL_MEMORY;
  }
  if (status != LUA_OK) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, api_ref);
    lua_getfield(L, -1, "STOP");
    int is_stop = lua_rawequal(L, -1, -3);
    lua_pop(L, 2);
    if (is_stop) {
      lua_settop(L, top);
      return CALL_STOPPED;
    }
    return error_out();
  }
  int ok = 1;
  for (int i = top + 1; ok && i <= lua_gettop(L); i++) ok = out_value(i);
  lua_settop(L, top);
  return ok ? CALL_OK : CALL_MEMORY;
}
