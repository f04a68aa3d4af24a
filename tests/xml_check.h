// A minimal XML well-formedness check of the HTML pages pmhmc writes
// (report_html.c promises XHTML-compatible markup), shared by the suites
// that look at them: test_report (pmhmc report) and test_cli (the page
// pmhmc sample writes by default).
#ifndef PMHMC_TESTS_XML_CHECK_H
#define PMHMC_TESTS_XML_CHECK_H

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace pmhmc_xml_check {

inline bool name_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
}

// Checks text (between tags, or an attribute value) for XML: no raw '<',
// every '&' starts an entity reference. Returns "" or the problem.
inline std::string check_text(const std::string &s, size_t at)
{
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '<')
            return "raw '<' in text at " + std::to_string(at + i);
        if (s[i] != '&')
            continue;
        size_t semi = s.find(';', i);
        if (semi == std::string::npos)
            return "unterminated entity at " + std::to_string(at + i);
        std::string ent = s.substr(i + 1, semi - i - 1);
        bool ok = ent == "amp" || ent == "lt" || ent == "gt" || ent == "quot" || ent == "apos";
        if (!ok && ent.size() > 1 && ent[0] == '#') {
            bool hex = ent[1] == 'x';
            ok = ent.size() > (hex ? 2u : 1u);
            for (size_t k = hex ? 2 : 1; k < ent.size() && ok; ++k)
                ok = hex ? std::isxdigit(static_cast<unsigned char>(ent[k])) : std::isdigit(static_cast<unsigned char>(ent[k]));
        }
        if (!ok)
            return "bad entity '&" + ent + ";' at " + std::to_string(at + i);
    }
    return "";
}

// A minimal XML well-formedness check: a DOCTYPE may lead; then every tag
// is closed in order, attributes are quoted, names are names, text and
// attribute values hold only the predefined or numeric entities, and there
// is one root element. Returns "" or the first problem.
inline std::string xml_problem(const std::string &doc)
{
    std::vector<std::string> open;
    size_t i = 0, roots = 0;
    if (doc.rfind("<!DOCTYPE html>", 0) == 0)
        i = std::string("<!DOCTYPE html>").size();
    while (i < doc.size()) {
        size_t lt = doc.find('<', i);
        std::string text = doc.substr(i, (lt == std::string::npos ? doc.size() : lt) - i);
        if (std::string p = check_text(text, i); !p.empty())
            return p;
        if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string::npos)
            return "text outside the root element at " + std::to_string(i);
        if (lt == std::string::npos)
            break;
        if (doc.compare(lt, 4, "<!--") == 0) {
            size_t end = doc.find("-->", lt + 4);
            if (end == std::string::npos)
                return "unterminated comment";
            i = end + 3;
            continue;
        }
        size_t j = lt + 1;
        bool closing = j < doc.size() && doc[j] == '/';
        if (closing)
            ++j;
        size_t name_start = j;
        while (j < doc.size() && name_char(doc[j]))
            ++j;
        std::string name = doc.substr(name_start, j - name_start);
        if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
            return "bad tag name at " + std::to_string(lt);
        std::vector<std::string> attrs;
        bool self_closing = false;
        for (;;) {
            while (j < doc.size() && std::isspace(static_cast<unsigned char>(doc[j])))
                ++j;
            if (j >= doc.size())
                return "unterminated tag <" + name;
            if (doc[j] == '>') {
                ++j;
                break;
            }
            if (doc.compare(j, 2, "/>") == 0 && !closing) {
                self_closing = true;
                j += 2;
                break;
            }
            if (closing)
                return "attributes in closing tag </" + name;
            size_t a = j;
            while (j < doc.size() && name_char(doc[j]))
                ++j;
            std::string attr = doc.substr(a, j - a);
            if (attr.empty() || j >= doc.size() || doc[j] != '=' || j + 1 >= doc.size() ||
                (doc[j + 1] != '"' && doc[j + 1] != '\''))
                return "unquoted or malformed attribute in <" + name + " at " + std::to_string(a);
            if (std::find(attrs.begin(), attrs.end(), attr) != attrs.end())
                return "attribute " + attr + " twice in <" + name;
            attrs.push_back(attr);
            char q = doc[j + 1];
            size_t end = doc.find(q, j + 2);
            if (end == std::string::npos)
                return "unterminated attribute value in <" + name;
            if (std::string p = check_text(doc.substr(j + 2, end - j - 2), j + 2); !p.empty())
                return p;
            j = end + 1;
        }
        if (closing) {
            if (open.empty() || open.back() != name)
                return "</" + name + "> closes " + (open.empty() ? std::string("nothing") : "<" + open.back() + ">") +
                       " at " + std::to_string(lt);
            open.pop_back();
        } else {
            if (open.empty())
                ++roots;
            if (!self_closing)
                open.push_back(name);
        }
        i = j;
    }
    if (!open.empty())
        return "<" + open.back() + "> never closed";
    if (roots != 1)
        return "expected one root element, found " + std::to_string(roots);
    return "";
}

} // namespace pmhmc_xml_check

#endif
