/// Keeps a large, rarely used value out of line: a connection's slot stays small when most
/// connections never need it (TLS state, decrypted HTTP), so a table of many connections does
/// not pay for it inline. Mutations happen in place (copy-on-write when shared).
@propertyWrapper
struct Indirect<Value> {
    private final class Box {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box

    init(wrappedValue: Value) {
        self.box = Box(wrappedValue)
    }

    var wrappedValue: Value {
        get { self.box.value }
        set {
            if isKnownUniquelyReferenced(&self.box) {
                self.box.value = newValue
            } else {
                self.box = Box(newValue)
            }
        }
        _modify {
            if !isKnownUniquelyReferenced(&self.box) { self.box = Box(self.box.value) }
            yield &self.box.value
        }
    }
}
