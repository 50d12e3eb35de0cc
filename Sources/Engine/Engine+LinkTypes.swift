import CaptureModel
import PacketDecoding

/// An analyser that takes frames of several link types in one stream: several capture files
/// read as one (`analyze A B`), each with its own link type.
public protocol MixedLinkAnalysing: CaptureAnalysing {
    /// Feeds the next record, decoded as `linkType` (its file's).
    @discardableResult
    mutating func process(_ frame: RawFrame, linkType: LinkType) -> DecodedFrame
}

extension Engine: MixedLinkAnalysing {
    /// Feeds the next record, decoded as `linkType`: the same as `process(_:)` while the link
    /// type stays the one the decoder has.
    @discardableResult
    public mutating func process(_ frame: RawFrame, linkType: LinkType) -> DecodedFrame {
        if linkType != self.decoder.linkType { self.decoder.decodeLinks(as: linkType) }
        return self.process(frame)
    }
}

extension ShardedEngine: MixedLinkAnalysing {
    /// Feeds the next record, decoded as `linkType` (decoding happens on the reading thread).
    @discardableResult
    public func process(_ frame: RawFrame, linkType: LinkType) -> DecodedFrame {
        if linkType != self.decoder.linkType { self.decoder.decodeLinks(as: linkType) }
        return self.process(frame)
    }
}
