// The sshd the tests start is chaos's and the bench's too: one implementation.
export { freePort, SFTP_USER, sftpTargetOn, startSshd, type Sshd } from '../../harness/sshd-process';
