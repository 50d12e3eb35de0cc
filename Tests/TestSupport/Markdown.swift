/// Reading Markdown the way a renderer would, for tests that check what is markup and what is text.
public enum Markdown {
    /// `text` without its code spans (CommonMark §6.1: a run of n backticks up to the next run
    /// of exactly n), whose content is literal; backslash escapes are kept as written.
    public static func outsideCodeSpans(_ text: String) -> String {
        let characters = Array(text)
        var out = ""
        var index = 0
        func run(at start: Int) -> Int {
            var end = start
            while end < characters.count, characters[end] == "`" { end += 1 }
            return end - start
        }
        while index < characters.count {
            if characters[index] == "\\", index + 1 < characters.count {
                out.append(characters[index])
                out.append(characters[index + 1])
                index += 2
                continue
            }
            guard characters[index] == "`" else {
                out.append(characters[index])
                index += 1
                continue
            }
            let length = run(at: index)
            var close = index + length
            while close < characters.count, !(characters[close] == "`" && run(at: close) == length) {
                close += characters[close] == "`" ? run(at: close) : 1
            }
            index = min(characters.count, close + length)
        }
        return out
    }
}
