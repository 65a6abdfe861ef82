// `isoproxy detach`: placeholder until its issue lands.
export async function run(_argv: string[]): Promise<number> {
  console.error('isoproxy detach: not available yet');
  return 1;
}
