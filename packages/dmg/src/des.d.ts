/** des.js has no types of its own: the part diskit uses. */
declare module 'des.js' {
  interface Cipher {
    update(data: number[]): number[];
    final(): number[];
  }
  interface Mode {
    instantiate(base: unknown): { create(o: { type: 'encrypt' | 'decrypt'; key: number[]; iv: number[]; padding?: boolean }): Cipher };
  }
  const des: { CBC: Mode; EDE: unknown };
  export default des;
}
