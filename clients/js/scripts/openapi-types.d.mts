/** src/openapi.ts's text for an OpenAPI document's text. */
export function generate(documentText: string): Promise<string>;
