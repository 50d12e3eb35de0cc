#include "CBuildStamp.h"

// A C define because Swift's compilation conditions carry no value. It comes from the
// environment, not from the manifest's Context.gitInformation: SwiftPM caches the evaluated
// manifest, so that goes stale after the next commit.
#define EDGESCOPE_STRINGIFY_(x) #x
#define EDGESCOPE_STRINGIFY(x) EDGESCOPE_STRINGIFY_(x)

const char *edgescope_build_commit(void) {
#ifdef EDGESCOPE_COMMIT
    return EDGESCOPE_STRINGIFY(EDGESCOPE_COMMIT);
#else
    return "";
#endif
}
