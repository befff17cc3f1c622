// -hf REPO[:QUANT]: runs the Python resolver as a child process (see hub-resolve.h). stdout is read
// through a pipe (the last line is the path); stderr is inherited so download progress shows.
#include "common/hub-resolve.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/demo-model.h"
#include "common/error.h"

namespace ld {

namespace {

bool is_executable(const std::string & p) { return access(p.c_str(), X_OK) == 0; }

bool is_dir(const std::string & p) { return access(p.c_str(), F_OK) == 0; }

}  // namespace

std::vector<std::string> hub_python_command(const std::string & exe_dir) {
    if (const char * env = std::getenv("LLAMA_DIFFUSION_PYTHON"); env && *env) return {env};
    for (const char * name : {"python3", "python"}) {
        const std::string p = exe_dir + "/" + name;
        if (!exe_dir.empty() && is_executable(p)) return {p};
    }
    return {"python3"};
}

std::string resolve_hf_model(const std::string & spec) {
    if (spec.empty() || spec.find('/') == std::string::npos || spec[0] == '-')
        throw Error("-hf: '" + spec + "' is not a Hub repository (expected OWNER/REPO or OWNER/REPO:QUANT)");
    const std::string exe = executable_path();
    const size_t slash = exe.find_last_of('/');
    const std::string exe_dir = slash == std::string::npos ? std::string() : exe.substr(0, slash);
    std::vector<std::string> argv = hub_python_command(exe_dir);
    for (const char * a : {"-m", "llama_diffusion.hub", "resolve"}) argv.emplace_back(a);
    argv.push_back(spec);

    std::string pythonpath;
    if (!exe_dir.empty() && is_dir(exe_dir + "/pkg/llama_diffusion")) {
        pythonpath = exe_dir + "/pkg";
        if (const char * old = std::getenv("PYTHONPATH"); old && *old) pythonpath += std::string(":") + old;
    }

    int fds[2];
    if (pipe(fds) != 0) throw Error(std::string("-hf: pipe: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        throw Error(std::string("-hf: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {  // child: stdout -> pipe, exec the resolver
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (!pythonpath.empty()) setenv("PYTHONPATH", pythonpath.c_str(), 1);
        std::vector<char *> args;
        for (std::string & s : argv) args.push_back(s.data());
        args.push_back(nullptr);
        execvp(args[0], args.data());
        std::fprintf(stderr, "llama-diffusion-cli: -hf: cannot run %s: %s (set LLAMA_DIFFUSION_PYTHON to the Python "
                             "that has llama_diffusion installed)\n", args[0], std::strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) out.append(buf, (size_t)n);
        else if (n == 0 || errno != EINTR) break;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error("-hf: could not resolve '" + spec + "' (the reason is printed above)");
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    const size_t nl = out.find_last_of('\n');
    const std::string path = nl == std::string::npos ? out : out.substr(nl + 1);
    if (path.empty()) throw Error("-hf: the resolver printed no path for '" + spec + "'");
    return path;
}

}  // namespace ld
