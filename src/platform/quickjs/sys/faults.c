/* Fault injection for test builds: see faults.h. */
#include "flatnet_sys.h"

#ifdef FLATNET_FAULTS
static char fault_name[16];
static int fault_skip = -1;

int fault(const char *name)
{
    if (fault_skip < 0 || strcmp(name, fault_name) != 0)
        return 0;
    return fault_skip-- == 0;
}

JSValue js_inject_fault(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *name = JS_ToCString(ctx, argv[0]);
    if (!name || JS_ToInt32(ctx, &fault_skip, argv[1])) {
        JS_FreeCString(ctx, name);
        return JS_EXCEPTION;
    }
    snprintf(fault_name, sizeof(fault_name), "%s", name);
    JS_FreeCString(ctx, name);
    return JS_UNDEFINED;
}
#endif
