// structured-headers (an RFC 9651 parser) ships its types for ESM resolution only; our CommonJS
// `moduleResolution: node` cannot see them through its `exports` map, so the little the tests use is declared here.
declare module 'structured-headers' {
  export type BareItem = string | number | boolean | Uint8Array | { toString(): string };
  export type Item = [BareItem, Map<string, BareItem>];
  export type InnerList = [Item[], Map<string, BareItem>];
  export function parseDictionary(input: string): Map<string, Item | InnerList>;
}
