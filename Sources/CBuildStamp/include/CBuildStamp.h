#ifndef CBUILDSTAMP_H
#define CBUILDSTAMP_H

/// The git commit this binary was built from, as scripts/package stamps it in (EDGESCOPE_COMMIT
/// in the environment of `swift build`, see Package.swift); "" for an unstamped build.
const char *edgescope_build_commit(void);

#endif
