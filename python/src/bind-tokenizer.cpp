// Python bindings of the tokenizer (cpp/tokenizer): _core.Tokenizer (built from a GGUF file or
// from vocabulary lists), _core.StreamDecoder, and the chat formatter. The pure-Python wrapper is
// llama_diffusion/tokenizer.py. Encoding and decoding release the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "gguf/gguf-reader.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

namespace ld::py {

namespace pyb = pybind11;

namespace {

struct PyTokenizer {
    std::shared_ptr<const Tokenizer> tok;
};

std::vector<ChatMessage> to_messages(const pyb::list & messages) {
    std::vector<ChatMessage> out;
    for (size_t i = 0; i < messages.size(); ++i) {
        pyb::handle m = messages[i];
        if (!pyb::isinstance<pyb::dict>(m)) {
            throw Error(strfmt("chat: message %zu is not a dict with 'role' and 'content'", i));
        }
        pyb::dict d = pyb::reinterpret_borrow<pyb::dict>(m);
        if (!d.contains("role") || !d.contains("content")) {
            throw Error(strfmt("chat: message %zu lacks 'role' or 'content'", i));
        }
        out.push_back(ChatMessage{d["role"].cast<std::string>(), d["content"].cast<std::string>()});
    }
    return out;
}

pyb::str to_str(const std::string & s) {
    PyObject * o = PyUnicode_DecodeUTF8(s.data(), (Py_ssize_t)s.size(), "replace");
    if (!o) throw pyb::error_already_set();
    return pyb::reinterpret_steal<pyb::str>(o);
}

}  // namespace

void register_tokenizer(pyb::module_ & m) {
    pyb::class_<PyTokenizer>(m, "Tokenizer")
        .def_static(
            "from_gguf",
            [](const std::string & path) {
                gguf::File f = gguf::File::open(path);
                Vocab v = vocab_from_gguf(f);
                pyb::gil_scoped_release nogil;
                return PyTokenizer{Tokenizer::create(std::move(v))};
            },
            pyb::arg("path"), "Tokenizer of a GGUF file's tokenizer.ggml.* metadata.")
        .def_static(
            "from_vocab",
            [](const std::string & model, std::vector<std::string> tokens, std::vector<float> scores,
               std::vector<int32_t> token_types, std::vector<std::string> merges, int32_t bos_id,
               int32_t eos_id, int32_t unk_id, int32_t pad_id, int32_t mask_id, bool add_bos,
               bool add_eos, bool add_space_prefix) {
                Vocab v;
                v.model = model;
                v.tokens = std::move(tokens);
                v.scores = std::move(scores);
                v.token_types = std::move(token_types);
                v.merges = std::move(merges);
                v.bos_id = bos_id;
                v.eos_id = eos_id;
                v.unk_id = unk_id;
                v.pad_id = pad_id;
                v.mask_id = mask_id;
                v.add_bos = add_bos;
                v.add_eos = add_eos;
                v.add_space_prefix = add_space_prefix;
                pyb::gil_scoped_release nogil;
                return PyTokenizer{Tokenizer::create(std::move(v))};
            },
            pyb::arg("model"), pyb::arg("tokens"), pyb::arg("scores") = std::vector<float>{},
            pyb::arg("token_types") = std::vector<int32_t>{}, pyb::arg("merges") = std::vector<std::string>{},
            pyb::arg("bos_id") = -1, pyb::arg("eos_id") = -1, pyb::arg("unk_id") = -1,
            pyb::arg("pad_id") = -1, pyb::arg("mask_id") = -1, pyb::arg("add_bos") = false,
            pyb::arg("add_eos") = false, pyb::arg("add_space_prefix") = false)
        .def(
            "encode",
            [](const PyTokenizer & self, const std::string & text, bool add_special, bool parse_special) {
                pyb::gil_scoped_release nogil;
                return self.tok->encode(text, add_special, parse_special);
            },
            pyb::arg("text"), pyb::arg("add_special") = true, pyb::arg("parse_special") = false)
        .def(
            "decode",
            [](const PyTokenizer & self, const std::vector<int32_t> & ids, bool skip_special) {
                std::string s;
                {
                    pyb::gil_scoped_release nogil;
                    s = self.tok->decode(ids, skip_special);
                }
                return to_str(s);
            },
            pyb::arg("ids"), pyb::arg("skip_special") = false)
        .def(
            "token_to_piece",
            [](const PyTokenizer & self, int32_t id, bool special) {
                return pyb::bytes(self.tok->token_to_piece(id, special));
            },
            pyb::arg("id"), pyb::arg("special") = true)
        .def("token_id", [](const PyTokenizer & self, const std::string & t) { return self.tok->token_id(t); })
        .def("is_control", [](const PyTokenizer & self, int32_t id) { return self.tok->is_control(id); })
        .def("token_text", [](const PyTokenizer & self, int32_t id) {
            if (id < 0 || id >= self.tok->n_tokens()) {
                throw Error(strfmt("tokenizer: token id %d is outside the vocabulary of %d tokens", id,
                                   self.tok->n_tokens()));
            }
            return self.tok->vocab().tokens[(size_t)id];
        })
        .def("vocab",
             [](const PyTokenizer & self) {
                 const Vocab & v = self.tok->vocab();
                 pyb::dict d;
                 d["model"] = v.model;
                 d["tokens"] = v.tokens;
                 d["scores"] = v.scores;
                 d["token_types"] = v.token_types;
                 d["merges"] = v.merges;
                 d["bos_id"] = v.bos_id;
                 d["eos_id"] = v.eos_id;
                 d["unk_id"] = v.unk_id;
                 d["pad_id"] = v.pad_id;
                 d["mask_id"] = v.mask_id;
                 d["add_bos"] = v.add_bos;
                 d["add_eos"] = v.add_eos;
                 d["add_space_prefix"] = v.add_space_prefix;
                 return d;
             },
             "The vocabulary as lists (the from_vocab arguments plus model).")
        .def_property_readonly("model", [](const PyTokenizer & self) { return self.tok->vocab().model; })
        .def_property_readonly("n_tokens", [](const PyTokenizer & self) { return self.tok->n_tokens(); })
        .def_property_readonly("bos_id", [](const PyTokenizer & self) { return self.tok->bos_id(); })
        .def_property_readonly("eos_id", [](const PyTokenizer & self) { return self.tok->eos_id(); })
        .def_property_readonly("pad_id", [](const PyTokenizer & self) { return self.tok->pad_id(); })
        .def_property_readonly("mask_id", [](const PyTokenizer & self) { return self.tok->mask_id(); })
        .def_property_readonly("unk_id", [](const PyTokenizer & self) { return self.tok->vocab().unk_id; })
        .def_property_readonly("add_bos", [](const PyTokenizer & self) { return self.tok->vocab().add_bos; })
        .def_property_readonly("add_eos", [](const PyTokenizer & self) { return self.tok->vocab().add_eos; })
        .def_property_readonly("chat_template",
                               [](const PyTokenizer & self) { return self.tok->vocab().chat_template; })
        .def(
            "format_chat",
            [](const PyTokenizer & self, const pyb::list & messages, bool thinking, bool add_generation_prompt,
               bool add_bos) {
                ChatOptions o{thinking, add_generation_prompt, add_bos};
                return chat_format(to_messages(messages), o, chat_style(*self.tok));
            },
            pyb::arg("messages"), pyb::arg("thinking") = false, pyb::arg("add_generation_prompt") = true,
            pyb::arg("add_bos") = true)
        .def(
            "chat_tokenize",
            [](const PyTokenizer & self, const pyb::list & messages, bool thinking, bool add_generation_prompt,
               bool add_bos) {
                ChatOptions o{thinking, add_generation_prompt, add_bos};
                std::vector<ChatMessage> msgs = to_messages(messages);
                pyb::gil_scoped_release nogil;
                return chat_tokenize(*self.tok, msgs, o);
            },
            pyb::arg("messages"), pyb::arg("thinking") = false, pyb::arg("add_generation_prompt") = true,
            pyb::arg("add_bos") = true);

    pyb::class_<StreamDecoder>(m, "StreamDecoder")
        .def(pyb::init([](const PyTokenizer & t, bool skip_special) {
                 return std::make_unique<StreamDecoder>(t.tok, skip_special);
             }),
             pyb::arg("tokenizer"), pyb::arg("skip_special") = false)
        .def("push", [](StreamDecoder & self, int32_t id) { return to_str(self.push(id)); }, pyb::arg("id"))
        .def("flush", [](StreamDecoder & self) { return to_str(self.flush()); })
        .def("reset", &StreamDecoder::reset);
}

}  // namespace ld::py
