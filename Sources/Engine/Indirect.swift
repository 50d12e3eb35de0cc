/// Keeps a large, rarely present value out of line: a connection's slot stays small when most
/// connections never need it (TLS state, decrypted HTTP), so a table of many connections does
/// not pay for it inline, and nothing is allocated while it is `nil`. Mutations happen in place
/// (copy-on-write when shared).
@propertyWrapper
struct Indirect<Wrapped> {
    private final class Box {
        var value: Wrapped?
        init(_ value: Wrapped?) { self.value = value }
    }

    private var box: Box?

    /// Whether a value is held (`$name`), read without copying it out of its box: the box
    /// exists exactly while the value is not `nil`.
    var projectedValue: Bool { self.box != nil }

    init(wrappedValue: Wrapped?) {
        self.box = wrappedValue.map { Box($0) }
    }

    var wrappedValue: Wrapped? {
        get { self.box?.value }
        set {
            guard let newValue else {
                self.box = nil
                return
            }
            if self.box != nil, isKnownUniquelyReferenced(&self.box!) {
                self.box!.value = newValue
            } else {
                self.box = Box(newValue)
            }
        }
        _modify {
            if self.box == nil {
                self.box = Box(nil)
            } else if !isKnownUniquelyReferenced(&self.box!) {
                self.box = Box(self.box!.value)
            }
            yield &self.box!.value
            if case .none = self.box!.value { self.box = nil }
        }
    }
}
