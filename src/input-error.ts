// Input a lower layer refuses (an interface name, a namespace path): it says
// what is wrong and what to pass instead, but knows no CNI error codes. The
// plugin answers it with the code of the field it came from
// (src/cni/errors.ts answerAs): CNI_IFNAME and CNI_NETNS are environment
// errors (4), a config's bridge or mac a config error (7).
export class InvalidInputError extends Error {
  constructor(
    msg: string,
    readonly details = '',
  ) {
    super(msg);
    this.name = new.target.name;
  }
}
