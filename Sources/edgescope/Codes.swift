import ArgumentParser
import Reporting

/// `edgescope codes`: the root-cause vocabulary, or what every gateway model does with it.
struct Codes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every root-cause code (its phase, role and meaning), or what each gateway model does with each.",
        discussion: "Exit status: 0 printed; 1 a usage error (an unknown option, --json with --markdown). Every error is one line on stderr.")

    @Flag(help: "Print the codes as a JSON array.")
    var json = false

    @Flag(help: "Print Markdown tables (docs/root-causes.md is this output).")
    var markdown = false

    @Flag(help: "Per gateway model, what its client sees and what it logs for each code (with --markdown: docs/gateway-models.md).")
    var gateways = false

    func validate() throws {
        if self.json && self.markdown {
            throw ValidationError("give --json or --markdown, not both")
        }
        if self.json && self.gateways {
            throw ValidationError("--gateways prints Markdown or text, not JSON")
        }
    }

    func run() throws {
        let text: String
        if self.gateways {
            text = CodeTables.gatewaysMarkdown()
        } else if self.json {
            text = CodeTables.json()
        } else if self.markdown {
            text = CodeTables.markdown()
        } else {
            text = CodeTables.text()
        }
        print(text, terminator: "")
    }
}
