// Locating the built-in demo model from the executable's own directory (see demo-model.h).
#include "common/demo-model.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "common/error.h"

#if defined(__linux__) || defined(__APPLE__)
#include <glob.h>
#include <unistd.h>
#endif
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#endif

namespace ld {

namespace {

bool is_regular_file(const std::string & p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Existing regular files matching a pattern (sorted); the pattern itself when globbing is unavailable.
std::vector<std::string> expand(const std::string & pattern) {
    std::vector<std::string> out;
#if defined(__linux__) || defined(__APPLE__)
    glob_t g;
    std::memset(&g, 0, sizeof(g));
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i)
            if (is_regular_file(g.gl_pathv[i])) out.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
#else
    if (is_regular_file(pattern)) out.push_back(pattern);
#endif
    return out;
}

}  // namespace

std::string executable_path() {
#if defined(__linux__)
    char buf[PATH_MAX + 1];
    const ssize_t n = ::readlink("/proc/self/exe", buf, PATH_MAX);
    if (n <= 0) return std::string();
    buf[n] = '\0';
    return std::string(buf);
#elif defined(__APPLE__)
    uint32_t size = 0;
    _NSGetExecutablePath(nullptr, &size);  // asks for the buffer size
    std::string raw(size, '\0');
    if (_NSGetExecutablePath(&raw[0], &size) != 0) return std::string();
    raw.resize(std::strlen(raw.c_str()));
    char real[PATH_MAX];
    if (::realpath(raw.c_str(), real) == nullptr) return raw;
    return std::string(real);
#else
    return std::string();
#endif
}

std::vector<std::string> demo_model_patterns(const std::string & exe_dir) {
    const std::string tail = std::string("/llama_diffusion/models/") + kDemoModelName;
    // exe_dir is symlink-free (see executable_path), so its textual parent is the install prefix.
    const size_t slash = exe_dir.find_last_of('/');
    const std::string prefix = slash == std::string::npos ? exe_dir + "/.." : exe_dir.substr(0, slash);
    return {
        prefix + "/lib/python3.*/site-packages" + tail,
        prefix + "/lib/python3.*/dist-packages" + tail,
        prefix + "/lib64/python3.*/site-packages" + tail,
        exe_dir + "/pkg" + tail,
    };
}

std::string find_demo_model() {
    const char * env = std::getenv(kDemoModelEnv);
    if (env && *env) {
        if (!is_regular_file(env))
            throw Error(strfmt("%s is set to '%s', which does not exist (or is not a file); unset it or pass -m FILE",
                               kDemoModelEnv, env));
        return env;
    }
    const std::string exe = executable_path();
    if (exe.empty())
        throw Error(strfmt("no model given (-m FILE) and the built-in demo model cannot be located on this platform "
                           "(the executable's path is unknown); pass -m FILE or set %s", kDemoModelEnv));
    const size_t slash = exe.find_last_of('/');
    const std::string dir = slash == std::string::npos ? std::string(".") : exe.substr(0, slash);
    std::string looked;
    for (const std::string & pat : demo_model_patterns(dir)) {
        const std::vector<std::string> hits = expand(pat);
        if (!hits.empty()) return hits.front();
        looked += (looked.empty() ? "" : ", ") + pat;
    }
    throw Error(strfmt("no model given and the built-in demo model %s was not found (looked in: %s); pass -m FILE "
                       "(or set %s)", kDemoModelName, looked.c_str(), kDemoModelEnv));
}

}  // namespace ld
