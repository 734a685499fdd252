/* lseek(2) for Node: SEEK_DATA/SEEK_HOLE let FileDevice report a sparse file's holes without
 * reading them (Node has no binding). Optional: without it, holes are found by zero checks. */
#include <node_api.h>
#include <unistd.h>
#include <errno.h>

static napi_value Lseek(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd = -1, whence = 0;
  int64_t off = 0;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return NULL;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int64(env, argv[1], &off);
  napi_get_value_int32(env, argv[2], &whence);
  off_t r = lseek(fd, (off_t)off, whence);
  napi_create_int64(env, r < 0 ? -(int64_t)errno : (int64_t)r, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "lseek", NAPI_AUTO_LENGTH, Lseek, NULL, &fn);
  napi_set_named_property(env, exports, "lseek", fn);
  return exports;
}
